package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// An entry's checksum is the same whether taken at once (small files, the
// dump's parts) or streamed through the format's hash (large files).
func TestEntrySumOfMatchesItsHash(t *testing.T) {
	t.Parallel()
	for _, f := range []int{Format1, Format2} {
		for _, b := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("aegir "), 100000)} {
			h, err := NewEntryHash(f)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(b)
			if got, want := sum(h), entrySum(f).of(b); got != want {
				t.Fatalf("format %d, %d bytes: hash %s, of %s", f, len(b), got, want)
			}
		}
	}
	if _, err := NewEntryHash(3); err == nil {
		t.Fatal("NewEntryHash(3) succeeded")
	}
}

// Each format writes its own checksum of every file entry and nothing
// else, and is read back with every entry checked: by Verify, and by
// Extract with and without the recorded sha256.
func TestFormatsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range []int{Format1, Format2} {
		for _, together := range []bool{false, true} {
			t.Run(fmt.Sprintf("format%d/together=%v", f, together), func(t *testing.T) {
				t.Parallel()
				src := t.TempDir()
				tree(t, src, map[string]string{
					"a.txt":     "small",
					"big/b.bin": strings.Repeat("large file ", 200000), // past aheadMax: hashed while written
				})
				db := bytes.Repeat([]byte("INSERT INTO t VALUES(1);\n"), 1000)
				info := writeWith(t, src, db, Options{Format: f, ChunkSize: 4096}, together)
				if info.Manifest.Format != f {
					t.Fatalf("manifest format %d, want %d", info.Manifest.Format, f)
				}
				files := 0
				for _, e := range info.Manifest.Entries {
					if e.Type != TypeFile {
						continue
					}
					files++
					name, s := Checksum(f, e)
					if s == "" || (f == Format1) != (e.XXH64 == "") || (f == Format2) != (e.SHA256 == "") {
						t.Fatalf("format %d entry %+v: its %s is %q, and it must hold no other", f, e, name, s)
					}
				}
				if files < 3 {
					t.Fatalf("%d file entries: %+v", files, info.Manifest.Entries)
				}
				if _, err := Verify(context.Background(), info.Path, info.SHA256, nil); err != nil {
					t.Fatal(err)
				}
				for _, sha := range []string{info.SHA256, ""} {
					if _, err := Extract(context.Background(), info.Path, filepath.Join(t.TempDir(), "out"), sha, nil); err != nil {
						t.Fatalf("Extract(sha %q): %v", sha, err)
					}
				}
			})
		}
	}
}

func TestCreateRefusesAnUnknownFormat(t *testing.T) {
	t.Parallel()
	_, err := Create(filepath.Join(t.TempDir(), "a.tar.zst"), Options{Format: 3})
	if err == nil || !strings.Contains(err.Error(), "format 3") {
		t.Fatalf("Create(format 3) = %v", err)
	}
	if errors.Is(err, ErrCorrupt) {
		t.Fatal("a writer's bad option is not a corrupt archive")
	}
}
