package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// tree writes files under dir: name → content ("" ending in / is a dir).
func tree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func write(t *testing.T, src string, db []byte, opts Options) Info {
	t.Helper()
	path := filepath.Join(t.TempDir(), "site.tar.zst")
	w, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.AddTree(ctx, src, FilesPrefix); err != nil {
		t.Fatal(err)
	}
	if err := w.AddStream(ctx, DatabaseName, bytes.NewReader(db)); err != nil {
		t.Fatal(err)
	}
	info, err := w.Commit(Manifest{SiteID: "s1", Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		db    []byte
		chunk int
	}{
		{"empty db", nil, 0},
		{"one part", []byte("CREATE TABLE t(x);\n"), 0},
		{"exact chunk", bytes.Repeat([]byte("a"), 64), 64},
		{"many parts", bytes.Repeat([]byte("INSERT INTO t VALUES(1);\n"), 1000), 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := t.TempDir()
			tree(t, src, map[string]string{
				"public/index.html":   "<h1>marker</h1>",
				"files/a/b/c.txt":     "deep",
				"files/empty/":        "",
				"settings.json":       `{"x":1}`,
				"public/big/data.bin": strings.Repeat("x", 300000),
			})
			if err := os.Symlink("../public/index.html", filepath.Join(src, "files", "link.html")); err != nil {
				t.Fatal(err)
			}
			info := write(t, src, tc.db, Options{ChunkSize: tc.chunk})
			if info.Size == 0 || len(info.SHA256) != 64 {
				t.Fatalf("info = %+v", info)
			}
			if sum, size, err := FileSHA256(info.Path); err != nil || sum != info.SHA256 || size != info.Size {
				t.Fatalf("the file's sha256 is %s (%d bytes, %v), Info says %s (%d bytes)", sum, size, err, info.SHA256, info.Size)
			}
			dest := filepath.Join(t.TempDir(), "out")
			m, err := Extract(context.Background(), info.Path, dest, info.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if m.Domain != "example.com" || m.Format != FormatVersion {
				t.Fatalf("manifest = %+v", m)
			}
			for name, want := range map[string]string{
				"files/public/index.html":   "<h1>marker</h1>",
				"files/files/a/b/c.txt":     "deep",
				"files/settings.json":       `{"x":1}`,
				"files/files/link.html":     "<h1>marker</h1>",
				"files/public/big/data.bin": strings.Repeat("x", 300000),
				"database.sql":              string(tc.db),
			} {
				b, err := os.ReadFile(filepath.Join(dest, name))
				if err != nil || string(b) != want {
					t.Errorf("%s: %q, %v", name, clip(b), err)
				}
			}
			if fi, err := os.Stat(filepath.Join(dest, "files/files/empty")); err != nil || !fi.IsDir() {
				t.Errorf("empty dir not restored: %v", err)
			}
			var db bytes.Buffer
			if _, err := ReadDatabase(context.Background(), info.Path, info.SHA256, &db); err != nil || !bytes.Equal(db.Bytes(), tc.db) {
				t.Errorf("ReadDatabase = %d bytes, %v", db.Len(), err)
			}
		})
	}
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

func TestCorruptArchivesAreRefusedAndLeaveNothing(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	tree(t, src, map[string]string{"public/index.html": strings.Repeat("hello ", 10000)})
	info := write(t, src, []byte("dump"), Options{})
	good, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func() ([]byte, string){
		"flipped byte": func() ([]byte, string) { b := bytes.Clone(good); b[len(b)/2] ^= 0xff; return b, "" },
		// With the recorded sha256, entry contents are not hashed: the
		// archive's checksum must catch the change alone.
		"flipped byte, recorded sha": func() ([]byte, string) { b := bytes.Clone(good); b[len(b)/2] ^= 0xff; return b, info.SHA256 },
		"bad entry checksum":         func() ([]byte, string) { return withManifest(t, "files/x", "x", strings.Repeat("0", 64)), "" },
		"truncated":                  func() ([]byte, string) { return good[:len(good)/2], "" },
		"wrong sha":                  func() ([]byte, string) { return good, strings.Repeat("0", 64) },
		"not zstd":                   func() ([]byte, string) { return []byte("hello"), "" },
		"empty":                      func() ([]byte, string) { return nil, "" },
		"traversal":                  func() ([]byte, string) { return crafted(t, "files/../../etc/passwd", tar.TypeReg, ""), "" },
		"outside files":              func() ([]byte, string) { return crafted(t, "etc/passwd", tar.TypeReg, ""), "" },
		"abs symlink":                func() ([]byte, string) { return crafted(t, "files/x", tar.TypeSymlink, "/etc"), "" },
		"up symlink":                 func() ([]byte, string) { return crafted(t, "files/x", tar.TypeSymlink, "../../etc"), "" },
		"no manifest":                func() ([]byte, string) { return crafted(t, "files/x", tar.TypeReg, ""), "" },
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, sha := mk()
			p := filepath.Join(t.TempDir(), "bad.tar.zst")
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(context.Background(), p, sha); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify = %v, want ErrCorrupt", err)
			}
			dest := filepath.Join(t.TempDir(), "out")
			_, err := Extract(context.Background(), p, dest, sha)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Extract = %v, want ErrCorrupt", err)
			}
			if _, err := os.Stat(dest); !os.IsNotExist(err) {
				t.Fatalf("staging dir left behind: %v", err)
			}
		})
	}
}

// withManifest returns a zstd tar with one file and a manifest that lists
// it with the sha256 given.
func withManifest(t *testing.T, name, content, sha string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	m, _ := json.Marshal(Manifest{Format: FormatVersion, SiteID: "s1",
		Entries: []Entry{{Name: name, Type: TypeFile, Size: int64(len(content)), SHA256: sha}}})
	for _, e := range []struct{ name, body string }{{name, content}, {ManifestName, string(m)}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.body))}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(e.body))
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

// crafted returns a zstd tar with one entry of the given name and type.
func crafted(t *testing.T, name string, typ byte, link string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{Name: name, Typeflag: typ, Linkname: link, Mode: 0o644}
	if typ == tar.TypeReg {
		hdr.Size = 1
	}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if typ == tar.TypeReg {
		_, _ = tw.Write([]byte("x"))
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

func TestAbortLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, err := Create(filepath.Join(dir, "a.tar.zst"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.AddStream(context.Background(), DatabaseName, strings.NewReader("x"))
	w.Abort()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left %v", entries)
	}
}
