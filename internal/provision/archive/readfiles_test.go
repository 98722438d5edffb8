package archive

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Files read ahead (up to aheadMax), larger ones read by the writer,
// directories and links keep the walk's order in the archive and every
// file comes back with its bytes, beyond the read-ahead's bounds
// (aheadFiles entries, aheadBytes of content).
func TestReadAheadKeepsOrderAndContent(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	files := map[string]string{}
	sizes := []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, aheadMax - 1, aheadMax, aheadMax + 1, 3 << 20}
	for i := range 3 * aheadFiles {
		size := sizes[i%len(sizes)]
		files[fmt.Sprintf("d%02d/f%03d", i%7, i)] = strings.Repeat(string(rune('a'+i%26)), size)
	}
	tree(t, src, files)
	if err := os.Symlink("f000", filepath.Join(src, "d00", "link")); err != nil {
		t.Fatal(err)
	}
	info := writeWith(t, src, []byte("db"), Options{}, true)
	var names []string
	for _, e := range info.Manifest.Entries {
		if strings.HasPrefix(e.Name, FilesPrefix) {
			names = append(names, e.Name)
		}
	}
	if !slices.IsSorted(names) { // the walk is lexical within each directory; these names sort the same
		t.Fatalf("entries out of walk order: %v", names)
	}
	dest := filepath.Join(t.TempDir(), "out")
	if _, err := Extract(context.Background(), info.Path, dest, info.SHA256, nil); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		b, err := os.ReadFile(filepath.Join(dest, "files", name))
		if err != nil || !bytes.Equal(b, []byte(content)) {
			t.Fatalf("%s: %d bytes, want %d (%v)", name, len(b), len(content), err)
		}
	}
	if l, err := os.Readlink(filepath.Join(dest, "files", "d00", "link")); err != nil || l != "f000" {
		t.Fatalf("link: %q %v", l, err)
	}
}
