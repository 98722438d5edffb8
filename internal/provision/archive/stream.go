package archive

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// AddTreeAndStream adds the directory dir under prefix, as AddTree does,
// and the content of r as the entry name, as AddStream does, at the same
// time: r is read on a goroutine of its own in parts of Options.ChunkSize,
// and each part is added between two files of the tree as soon as it has
// been read. A database dump then runs while the site's files are
// compressed instead of after them. The parts are named as AddStream names
// them and keep their order; readers join them in that order wherever they
// are in the archive (as every version of the reader has). It holds two
// parts in memory, as AddStream does.
//
// On error, r may still be being read until the caller closes it (closing
// the reading end of an io.Pipe is enough).
func (w *Writer) AddTreeAndStream(ctx context.Context, dir, prefix, name string, r io.Reader) error {
	s := newStreamParts(name, w.opts.ChunkSize, entrySum(w.opts.Format))
	defer s.close()
	go s.read(r)
	if err := w.addTree(ctx, dir, prefix, s); err != nil {
		return err
	}
	for !s.done {
		select {
		case p := <-s.parts:
			if err := w.addPart(s, p); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// streamParts carries the parts of a stream from the goroutine reading it
// to the Writer, and the emptied buffers back.
type streamParts struct {
	name     string
	sum      entrySum
	parts    chan streamPart
	free     chan []byte
	stop     chan struct{}
	stopOnce sync.Once

	held    []byte // the first part, while it is unknown whether it is the only one
	heldSum string
	n       int  // parts added
	done    bool // the last part was added
}

// streamPart is a part of the stream; the last one has eof set (and may be
// empty), and a read error ends the stream with err.
type streamPart struct {
	b   []byte
	sum string // checksum of b (entrySum.of), taken by the reading goroutine
	eof bool
	err error
}

func newStreamParts(name string, chunk int, sum entrySum) *streamParts {
	s := &streamParts{name: name, sum: sum, parts: make(chan streamPart), free: make(chan []byte, 2), stop: make(chan struct{})}
	s.free <- make([]byte, chunk)
	s.free <- make([]byte, chunk)
	return s
}

// read reads r into free buffers and sends each as a part, until the end
// of r, a read error, or close.
func (s *streamParts) read(r io.Reader) {
	for {
		var buf []byte
		select {
		case buf = <-s.free:
		case <-s.stop:
			return
		}
		n, err := readChunk(r, buf)
		p := streamPart{b: buf[:n], eof: n < len(buf), err: err}
		if err == nil {
			p.sum = s.sum.of(p.b)
		}
		select {
		case s.parts <- p:
		case <-s.stop:
			return
		}
		if p.eof || p.err != nil {
			return
		}
	}
}

func (s *streamParts) close() { s.stopOnce.Do(func() { close(s.stop) }) }

func (s *streamParts) recycle(b []byte) { s.free <- b[:cap(b)] }

// addReadyParts adds the parts already read, without waiting for more.
func (w *Writer) addReadyParts(s *streamParts) error {
	for !s.done {
		select {
		case p := <-s.parts:
			if err := w.addPart(s, p); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

// addPart adds one part under the name AddStream would give it: the stream
// is one entry called name when it fits in one part, else name.part-NNNNNN.
// A full first part is held until the next part says which.
func (w *Writer) addPart(s *streamParts, p streamPart) error {
	if p.err != nil {
		return p.err
	}
	if s.held != nil {
		if p.eof && len(p.b) == 0 {
			s.done = true
			return w.addBytesSum(s.name, s.held, s.heldSum) // exactly one full part
		}
		if err := w.addBytesSum(partName(s.name, 0), s.held, s.heldSum); err != nil {
			return err
		}
		s.recycle(s.held)
		s.held, s.n = nil, 1
	}
	switch {
	case s.n == 0 && !p.eof:
		s.held, s.heldSum = p.b, p.sum
		return nil
	case s.n == 0:
		s.done = true
		return w.addBytesSum(s.name, p.b, p.sum) // shorter than a part, maybe empty
	}
	if len(p.b) > 0 {
		if err := w.addBytesSum(partName(s.name, s.n), p.b, p.sum); err != nil {
			return err
		}
		s.n++
	}
	s.recycle(p.b)
	s.done = p.eof
	return nil
}

func partName(name string, i int) string { return fmt.Sprintf("%s.part-%06d", name, i) }
