package dbpipe

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func command(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return exec.CommandContext(ctx, name, args...)
}

func TestPipesAreLarger(t *testing.T) {
	t.Parallel()
	r, w, err := bigPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	rc, _ := w.SyscallConn()
	var size int
	_ = rc.Control(func(fd uintptr) { size, err = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) })
	if err != nil || size < PipeSize {
		t.Fatalf("pipe size %d (%v), want %d (is /proc/sys/fs/pipe-max-size lower?)", size, err, PipeSize)
	}
}

// Both ways at once, more than a pipe holds: what goes in comes out.
func TestCopiesBothWays(t *testing.T) {
	t.Parallel()
	data := make([]byte, 5<<20)
	_, _ = rand.Read(data)
	var out bytes.Buffer
	if err := Run(command(t, "cat"), bytes.NewReader(data), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("got %d bytes back of %d", out.Len(), len(data))
	}
}

type failingWriter struct{ n, limit int }

var errFull = errors.New("the reader went away")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		return 0, errFull
	}
	w.n += len(p)
	return len(p), nil
}

// A reader that stops taking the output stops the program (it would
// block on its next write otherwise), and Run says why.
func TestStoppedOutputStopsTheProgram(t *testing.T) {
	t.Parallel()
	err := Run(command(t, "cat", "/dev/zero"), nil, &failingWriter{limit: 3 << 20})
	if err == nil {
		t.Fatal("Run succeeded")
	}
	if !errors.Is(err, errFull) && !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("Run = %v, want the writer's error or the program's broken pipe", err)
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

// An input that fails (an archive found corrupt while its dump is being
// loaded) fails Run even when the program, seeing its stdin end, exits 0.
func TestFailedInputFailsRun(t *testing.T) {
	t.Parallel()
	bad := errors.New("archive is corrupt")
	err := Run(command(t, "cat"), &failingReader{r: bytes.NewReader(make([]byte, 2<<20)), err: bad}, io.Discard)
	if !errors.Is(err, bad) {
		t.Fatalf("Run = %v, want %v", err, bad)
	}
}

// A program that exits without reading all its input is not an error of
// the input's (exec ignores the broken pipe the same way).
func TestEarlyExitOnInput(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := Run(command(t, "head", "-c", "10"), bytes.NewReader(make([]byte, 8<<20)), &out); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 10 {
		t.Fatalf("got %d bytes", out.Len())
	}
}

func TestProgramErrorComesFirst(t *testing.T) {
	t.Parallel()
	var ee *exec.ExitError
	if err := Run(command(t, "false"), strings.NewReader("x"), &bytes.Buffer{}); !errors.As(err, &ee) {
		t.Fatalf("Run(false) = %v, want an exit error", err)
	}
	if err := Run(command(t, "/nonexistent/program"), strings.NewReader("x"), &bytes.Buffer{}); err == nil {
		t.Fatal("Run of a missing program succeeded")
	}
}
