package archive

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestManyFramesRoundTrip writes an archive of several frames (a dump
// larger than frameSize, in parts that straddle frame boundaries), reads
// it back, and has the zstd command check it: concatenated frames must
// stay one valid zstd stream for tools outside aegir.
func TestManyFramesRoundTrip(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	tree(t, src, map[string]string{"public/index.html": "<h1>marker</h1>"})
	var db bytes.Buffer
	for i := 0; db.Len() < 2*frameSize+frameSize/3; i++ {
		fmt.Fprintf(&db, "INSERT INTO t VALUES(%d, 'row %d of the dump');\n", i, i*7919)
	}
	info := write(t, src, db.Bytes(), Options{ChunkSize: frameSize/2 + 1, Concurrency: 3})
	var got bytes.Buffer
	if _, err := ReadDatabase(context.Background(), info.Path, info.SHA256, &got, nil); err != nil || !bytes.Equal(got.Bytes(), db.Bytes()) {
		t.Fatalf("ReadDatabase = %d of %d bytes, %v", got.Len(), db.Len(), err)
	}
	if _, err := Extract(context.Background(), info.Path, filepath.Join(t.TempDir(), "out"), info.SHA256, nil); err != nil {
		t.Fatal(err)
	}
	zstd, err := exec.LookPath("zstd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("zstd is needed: run ops/install-deps.sh")
		}
		t.Skip("zstd not installed")
	}
	if out, err := exec.Command(zstd, "-t", "-q", info.Path).CombinedOutput(); err != nil {
		t.Fatalf("zstd -t: %v: %s", err, out)
	}
}

func TestFrameEncoderReportsWriteErrors(t *testing.T) {
	t.Parallel()
	e, err := newFrameEncoder(failingWriter{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), frameSize)
	for range 8 {
		if _, err := e.Write(chunk); err != nil {
			break
		}
	}
	if err := e.Close(); err == nil || err.Error() != "disk full" {
		t.Fatalf("Close = %v, want disk full", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

// TestFrameEncoderTails: whatever is left at Close (nothing, a little,
// most of a frame, frames and a part) comes out as one zstd stream of
// exactly what was written, at any concurrency.
func TestFrameEncoderTails(t *testing.T) {
	t.Parallel()
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for _, size := range []int{0, 1000, frameSize - 1, frameSize, frameSize + 3<<18 + 7, 2*frameSize - 1} {
		for _, conc := range []int{1, 2, 3} {
			in := make([]byte, size)
			for i := range in {
				in[i] = byte(i*7 + i/4096)
			}
			var out bytes.Buffer
			e, err := newFrameEncoder(&out, conc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Write(in); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := dec.DecodeAll(out.Bytes(), nil)
			if err != nil || !bytes.Equal(got, in) {
				t.Errorf("size %d, concurrency %d: decoded %d bytes, %v", size, conc, len(got), err)
			}
		}
	}
}
