package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
	return writeWith(t, src, db, opts, false)
}

// writeWith archives src and db, the database either after the files
// (AddTree, AddStream) or alongside them (AddTreeAndStream).
func writeWith(t *testing.T, src string, db []byte, opts Options, together bool) Info {
	t.Helper()
	path := filepath.Join(t.TempDir(), "site.tar.zst")
	w, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if together {
		if err := w.AddTreeAndStream(ctx, src, FilesPrefix, DatabaseName, bytes.NewReader(db)); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := w.AddTree(ctx, src, FilesPrefix); err != nil {
			t.Fatal(err)
		}
		if err := w.AddStream(ctx, DatabaseName, bytes.NewReader(db)); err != nil {
			t.Fatal(err)
		}
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
		for _, together := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/together=%v", tc.name, together), func(t *testing.T) {
				testRoundTrip(t, tc.db, tc.chunk, together)
			})
		}
	}
}

func testRoundTrip(t *testing.T, db []byte, chunk int, together bool) {
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
	info := writeWith(t, src, db, Options{ChunkSize: chunk}, together)
	if info.Size == 0 || len(info.SHA256) != 64 {
		t.Fatalf("info = %+v", info)
	}
	if sum, size, err := FileSHA256(info.Path); err != nil || sum != info.SHA256 || size != info.Size {
		t.Fatalf("the file's sha256 is %s (%d bytes, %v), Info says %s (%d bytes)", sum, size, err, info.SHA256, info.Size)
	}
	dest := filepath.Join(t.TempDir(), "out")
	m, err := Extract(context.Background(), info.Path, dest, info.SHA256, nil)
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
		"database.sql":              string(db),
	} {
		b, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v", name, clip(b), err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "files/files/empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty dir not restored: %v", err)
	}
	var read bytes.Buffer
	if _, err := ReadDatabase(context.Background(), info.Path, info.SHA256, &read, nil); err != nil || !bytes.Equal(read.Bytes(), db) {
		t.Errorf("ReadDatabase = %d bytes, %v", read.Len(), err)
	}
	if together {
		// The parts are named as AddStream names them.
		after := writeWith(t, src, db, Options{ChunkSize: chunk}, false)
		if got, want := dbEntries(m.Entries), dbEntries(after.Manifest.Entries); !slices.Equal(got, want) {
			t.Errorf("database entries %v, AddStream writes %v", got, want)
		}
	}
}

func dbEntries(es []Entry) []string {
	var names []string
	for _, e := range es {
		if isDatabase(e.Name) {
			names = append(names, fmt.Sprintf("%s %d", e.Name, e.Size))
		}
	}
	return names
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
		"bad entry checksum":         func() ([]byte, string) { return withManifest(t, Format1, "files/x", "x", strings.Repeat("0", 64)), "" },
		"bad entry xxh64":            func() ([]byte, string) { return withManifest(t, Format2, "files/x", "x", strings.Repeat("0", 16)), "" },
		// A format 2 manifest keeping a (right) sha256 instead of an xxh64.
		"format 2 entry with a sha256": func() ([]byte, string) {
			return withManifest(t, Format2, "files/x", "x", entrySum(Format1).of([]byte("x"))), ""
		},
		"unknown format": func() ([]byte, string) {
			return withManifest(t, 3, "files/x", "x", entrySum(Format1).of([]byte("x"))), ""
		},
		"truncated":     func() ([]byte, string) { return good[:len(good)/2], "" },
		"wrong sha":     func() ([]byte, string) { return good, strings.Repeat("0", 64) },
		"not zstd":      func() ([]byte, string) { return []byte("hello"), "" },
		"empty":         func() ([]byte, string) { return nil, "" },
		"traversal":     func() ([]byte, string) { return crafted(t, "files/../../etc/passwd", tar.TypeReg, ""), "" },
		"outside files": func() ([]byte, string) { return crafted(t, "etc/passwd", tar.TypeReg, ""), "" },
		// A link may point anywhere (links_test.go), but nothing may be
		// written through one, even with a manifest that lists it.
		"file under abs symlink": func() ([]byte, string) { return throughLink(t, "/etc", "files/x/passwd"), "" },
		"file under up symlink":  func() ([]byte, string) { return throughLink(t, "../../etc", "files/x/passwd"), "" },
		"file under deep link":   func() ([]byte, string) { return throughLink(t, "/etc", "files/x/a/b"), "" },
		"empty symlink":          func() ([]byte, string) { return crafted(t, "files/x", tar.TypeSymlink, ""), "" },
		"no manifest":            func() ([]byte, string) { return crafted(t, "files/x", tar.TypeReg, ""), "" },
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, sha := mk()
			p := filepath.Join(t.TempDir(), "bad.tar.zst")
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(context.Background(), p, sha, nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify = %v, want ErrCorrupt", err)
			}
			dest := filepath.Join(t.TempDir(), "out")
			_, err := Extract(context.Background(), p, dest, sha, nil)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Extract = %v, want ErrCorrupt", err)
			}
			if _, err := os.Stat(dest); !os.IsNotExist(err) {
				t.Fatalf("staging dir left behind: %v", err)
			}
		})
	}
}

// withManifest returns a zstd tar with one file and a manifest of format
// f that lists it with the checksum given (sha256 in format 1, else xxh64).
func withManifest(t *testing.T, f int, name, content, sum string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	e := Entry{Name: name, Type: TypeFile, Size: int64(len(content))}
	if f == Format1 {
		e.SHA256 = sum
	} else {
		e.XXH64 = sum
	}
	m, _ := json.Marshal(Manifest{Format: f, SiteID: "s1", Entries: []Entry{e}})
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

// TestAddTreeAndStreamManyPartsAmongManyFiles writes a dump of many small
// parts next to many files, so parts land between files, and checks the
// dump comes back whole and in order.
func TestAddTreeAndStreamManyPartsAmongManyFiles(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	files := map[string]string{}
	for i := range 60 {
		files[fmt.Sprintf("public/%02d/page.html", i)] = strings.Repeat(fmt.Sprintf("page %d ", i), 2000)
	}
	tree(t, src, files)
	var db bytes.Buffer
	for i := range 5000 {
		fmt.Fprintf(&db, "INSERT INTO t VALUES(%d);\n", i)
	}
	info := writeWith(t, src, db.Bytes(), Options{ChunkSize: 512}, true)
	if _, err := Verify(context.Background(), info.Path, info.SHA256, nil); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	if _, err := Extract(context.Background(), info.Path, dest, info.SHA256, nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, DatabaseName)); err != nil || !bytes.Equal(b, db.Bytes()) {
		t.Fatalf("database.sql: %d bytes, want %d (%v)", len(b), db.Len(), err)
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestAddTreeAndStreamErrors(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	tree(t, src, map[string]string{"public/index.html": "hi"})
	ctx := context.Background()

	t.Run("the stream fails", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		w, err := Create(filepath.Join(dir, "a.tar.zst"), Options{ChunkSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		dumpErr := errors.New("dump failed")
		err = w.AddTreeAndStream(ctx, src, FilesPrefix, DatabaseName, &failingReader{strings.NewReader(strings.Repeat("x", 1000)), dumpErr})
		if !errors.Is(err, dumpErr) {
			t.Fatalf("AddTreeAndStream = %v, want the stream's error", err)
		}
		w.Abort()
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatalf("left behind: %v", left)
		}
	})
	t.Run("the tree fails while the stream waits", func(t *testing.T) {
		t.Parallel()
		w, err := Create(filepath.Join(t.TempDir(), "a.tar.zst"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		pr, pw := io.Pipe()
		defer pw.Close()
		err = w.AddTreeAndStream(ctx, filepath.Join(src, "missing"), FilesPrefix, DatabaseName, pr)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("AddTreeAndStream = %v, want the walk's error", err)
		}
		pr.Close() // the reading goroutine ends
		if _, err := pw.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("write after close = %v", err)
		}
	})
}
