package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tempRoot is a new temporary directory and its os.Root, closed at the
// test's end.
func tempRoot(t *testing.T) (string, *os.Root) {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Close() })
	return dir, root
}

// Files of many directories, queued in turn (so every writer has some),
// more than the slabs hold at once, all come back with their bytes, mode
// and time; the progress counter adds up.
func TestFileWritersManyDirectories(t *testing.T) {
	t.Parallel()
	dir, root := tempRoot(t)
	const dirs, files = 20, 2000
	for d := range dirs {
		if err := root.MkdirAll(fmt.Sprintf("files/d%02d", d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	var total atomic.Int64
	w := newFileWriters(root, &total)
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	var want int64
	content := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, (i*7919)%(smallFile+1)) }
	for i := range files {
		name := fmt.Sprintf("files/d%02d/f%04d", i%dirs, i)
		mode := os.FileMode(0o640)
		if i%5 == 0 {
			mode = 0o444
		}
		b := content(i)
		want += int64(len(b))
		if err := w.write(name, mode, mt.Add(time.Duration(i)*time.Second), bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if w.slabs.made > slabCount {
		t.Fatalf("made %d slabs, at most %d allowed", w.slabs.made, slabCount)
	}
	if total.Load() != want {
		t.Fatalf("counted %d bytes written, want %d", total.Load(), want)
	}
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("files/d%02d/f%04d", i%dirs, i))
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, content(i)) {
			t.Fatalf("%s: %d bytes, not what was written (%d)", p, len(got), len(content(i)))
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		wantMode := fs.FileMode(0o640)
		if i%5 == 0 {
			wantMode = 0o444
		}
		if fi.Mode().Perm() != wantMode || !fi.ModTime().Equal(mt.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("%s: mode %v time %v", p, fi.Mode().Perm(), fi.ModTime())
		}
	}
}

// A file that cannot be created fails the extract with its name; the
// writers stop creating, drain their queues and give every slab back.
func TestFileWritersError(t *testing.T) {
	t.Parallel()
	dir, root := tempRoot(t)
	for d := range 4 {
		if err := root.Mkdir(fmt.Sprintf("d%d", d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "d1", "f0005"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := newFileWriters(root, nil)
	b := bytes.Repeat([]byte("x"), 10<<10)
	var werr error
	for i := range 20000 {
		if werr = w.write(fmt.Sprintf("d%d/f%04d", i%4, i), 0o640, time.Now(), bytes.NewReader(b), int64(len(b))); werr != nil {
			break
		}
	}
	err := w.close()
	if err == nil || !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "d1/f0005") {
		t.Fatalf("close: %v, want the existing d1/f0005", err)
	}
	if werr != nil && werr.Error() != err.Error() {
		t.Fatalf("write returned %v, close %v", werr, err)
	}
	w.slabs.drop()
	if len(w.slabs.free) != w.slabs.made {
		t.Fatalf("%d of %d slabs came back", len(w.slabs.free), w.slabs.made)
	}
}
