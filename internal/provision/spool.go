package provision

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// spool is a pipe through a file: what is written is appended to the file
// at path (created on the first write), and its reader reads it back as it
// grows. A reader slower than the writer (a database load next to an
// unpack) never holds the writer up, as io.Pipe would, and memory stays
// bounded. The reader gets io.EOF only after closeWrite(nil), and the
// writer's error as soon as closeWrite(err).
type spool struct {
	path string
	w    *os.File // the writer's only

	mu   sync.Mutex
	cond *sync.Cond
	n    int64 // bytes written
	done bool
	err  error // given to closeWrite

	read atomic.Int64 // bytes read, for progress
}

func newSpool(path string) *spool {
	s := &spool{path: path}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// Write appends p to the file. One goroutine writes.
func (s *spool) Write(p []byte) (int, error) {
	if s.w == nil {
		f, err := os.OpenFile(s.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return 0, err
		}
		s.w = f
	}
	n, err := s.w.Write(p)
	s.mu.Lock()
	s.n += int64(n)
	s.cond.Broadcast()
	s.mu.Unlock()
	return n, err
}

// closeWrite ends the stream: with err nil the reader reaches io.EOF after
// the last byte, else it returns err at once.
func (s *spool) closeWrite(err error) {
	if s.w != nil {
		_ = s.w.Close()
	}
	s.mu.Lock()
	if !s.done {
		s.done, s.err = true, err
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

// reader returns the one reader of the spool; close it when done.
func (s *spool) reader() *spoolReader { return &spoolReader{s: s} }

type spoolReader struct {
	s   *spool
	f   *os.File
	off int64
}

func (r *spoolReader) Read(p []byte) (int, error) {
	s := r.s
	s.mu.Lock()
	for r.off >= s.n && !s.done {
		s.cond.Wait()
	}
	avail, done, err := s.n-r.off, s.done, s.err
	s.mu.Unlock()
	if done && err != nil {
		return 0, err
	}
	if avail <= 0 {
		return 0, io.EOF
	}
	if r.f == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return 0, err
		}
		r.f = f
	}
	n, err := r.f.ReadAt(p[:min(int64(len(p)), avail)], r.off)
	r.off += int64(n)
	s.read.Add(int64(n))
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *spoolReader) Close() error {
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}
