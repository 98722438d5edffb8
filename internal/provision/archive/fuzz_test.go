package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/aegirhq/aegir/internal/testharness"
)

// fuzzArchive builds a zstd tar of two entries, a symlink (name1 → link)
// and a file (name2, content), and, when listed, a manifest that lists
// both as they are, so that the reader gets past its manifest check and
// the write path is what is fuzzed.
func fuzzArchive(name1, link, name2 string, content []byte, listed bool) []byte {
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	sum := sha256.Sum256(content)
	m := Manifest{Format: Format1, SiteID: "s1", Entries: []Entry{
		{Name: name1, Type: TypeSymlink, Link: link},
		{Name: name2, Type: TypeFile, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])},
	}}
	mb, _ := json.Marshal(m)
	hdrs := []*tar.Header{
		{Name: name1, Typeflag: tar.TypeSymlink, Linkname: link, Mode: 0o777},
		{Name: name2, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))},
	}
	if listed {
		hdrs = append(hdrs, &tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(mb))})
	}
	for _, h := range hdrs {
		if tw.WriteHeader(h) != nil {
			continue
		}
		switch {
		case h.Name == ManifestName:
			_, _ = tw.Write(mb)
		case h.Typeflag == tar.TypeReg:
			_, _ = tw.Write(content)
		}
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

// FuzzExtract feeds crafted archives to the reader: names and link
// targets that climb out, absolute ones, hostile bytes. Whatever the
// archive, Extract and Verify must not panic, an error must leave no
// staging directory, and nothing may appear outside the destination (the
// fuzz case's directory holds only the archive and, after a success, the
// destination).
func FuzzExtract(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add("files/"+s, "x", "files/a", []byte("x"), true)
		f.Add("files/x", s, "files/x/"+s, []byte("x"), true)
		f.Add("files/l", "../..", s, []byte(s), true)
	}
	f.Add("files/x", "/etc", "files/x/passwd", []byte("x"), true)
	f.Add("files/x", "../../escape", "files/x/y", []byte("x"), true)
	f.Add("files/x", ".", "files/y", []byte(""), false)
	f.Add("files/a", "b", DatabaseName, []byte("dump"), true)
	f.Fuzz(func(t *testing.T, name1, link, name2 string, content []byte, listed bool) {
		dir := t.TempDir()
		p := filepath.Join(dir, "a.tar.zst")
		if err := os.WriteFile(p, fuzzArchive(name1, link, name2, content, listed), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := Verify(ctx, p, "", nil); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Logf("Verify: %v", err)
		}
		dest := filepath.Join(dir, "out")
		_, err := Extract(ctx, p, dest, "", nil)
		if err != nil {
			if _, serr := os.Stat(dest); !errors.Is(serr, fs.ErrNotExist) {
				t.Fatalf("Extract failed (%v) and left %s", err, dest)
			}
		}
		ents, rerr := os.ReadDir(dir)
		if rerr != nil {
			t.Fatal(rerr)
		}
		for _, e := range ents {
			if e.Name() != "a.tar.zst" && e.Name() != "out" {
				t.Fatalf("extracting %q → %q and %q wrote %s outside the destination", name1, link, name2, e.Name())
			}
		}
		if err != nil {
			return
		}
		// What was extracted lies under out/files or is the dump, and no
		// regular file was written through a link.
		_ = filepath.WalkDir(dest, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(dest, path)
			if rel != "." && rel != "files" && !strings.HasPrefix(rel, "files/") && !strings.HasPrefix(rel, DatabaseName) {
				t.Fatalf("extracted %s outside files/", rel)
			}
			return nil
		})
	})
}
