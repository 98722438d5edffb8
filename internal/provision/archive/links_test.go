package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestLinkLeaves(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rel, link string
		want      bool
	}{
		{"a", "b", false},
		{"a", ".", false},
		{"a", "..", true},
		{"d/a", "../b", false},
		{"d/a", "../../b", true},
		{"d/a", "x/../../b", false},
		{"d/a", "x/../../../b", true},
		{"a", "/etc/passwd", true},
		{"a", "/", true},
		{"a", "", true},
		{"lib/tpl", "../../../../usr/share/dokuwiki/lib/tpl", true},
	} {
		if got := LinkLeaves(c.rel, c.link); got != c.want {
			t.Errorf("LinkLeaves(%q, %q) = %v, want %v", c.rel, c.link, got, c.want)
		}
	}
}

// A site with links out of it (Debian's DokuWiki ships them) backs up with
// the links recorded, and restores with them as links, never followed.
func TestExternalLinksAreRecordedAndRestoredAsLinks(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	tree(t, src, map[string]string{"files/doku.php": "<?php", "lib/x": "x"})
	links := map[string]string{
		"lib/tpl":    outside,        // absolute
		"lib/up":     "../../etc",    // climbs out
		"lib/inside": "../files",     // stays inside
		"conf":       "../somewhere", // climbs out from the top
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	info := write(t, src, []byte("dump"), Options{})
	var got []string
	for _, l := range info.Manifest.ExternalLinks {
		got = append(got, l.Name+" -> "+l.Target)
	}
	want := []string{"files/conf -> ../somewhere", "files/lib/tpl -> " + outside, "files/lib/up -> ../../etc"}
	if !slices.Equal(got, want) {
		t.Errorf("external links %q, want %q", got, want)
	}
	if _, err := Verify(context.Background(), info.Path, info.SHA256, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, sha := range []string{info.SHA256, ""} {
		dest := filepath.Join(t.TempDir(), "out")
		m, err := Extract(context.Background(), info.Path, dest, sha, nil)
		if err != nil {
			t.Fatalf("Extract: %v", err)
		}
		if len(m.ExternalLinks) != 3 {
			t.Errorf("restored manifest lists %d external links", len(m.ExternalLinks))
		}
		for name, target := range links {
			p := filepath.Join(dest, "files", name)
			fi, err := os.Lstat(p)
			if err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("%s restored as %v, %v; want a symlink", name, fi, err)
			}
			if l, _ := os.Readlink(p); l != target {
				t.Errorf("%s -> %q, want %q", name, l, target)
			}
		}
	}
}

// throughLink returns an archive, with a manifest that lists every entry,
// holding a symlink files/x -> target and a file at under (below files/x).
func throughLink(t *testing.T, target, under string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	sum := sha256.Sum256([]byte("x"))
	m := Manifest{Format: Format1, SiteID: "s1", Entries: []Entry{
		{Name: "files/x", Type: TypeSymlink, Link: target},
		{Name: under, Type: TypeFile, Size: 1, SHA256: hex.EncodeToString(sum[:])},
	}}
	mb, _ := json.Marshal(m)
	for _, h := range []*tar.Header{
		{Name: "files/x", Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777},
		{Name: under, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		{Name: ManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(mb))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Name == ManifestName {
			_, _ = tw.Write(mb)
		} else if h.Typeflag == tar.TypeReg {
			_, _ = tw.Write([]byte("x"))
		}
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}
