package archive

import (
	"errors"
	"io"
	"sync"
)

// readAhead reads r on a goroutine of its own into a few buffers ahead
// of its reader, so decompressing an archive (and hashing it) runs while
// the previous buffer's files are written, as `zstd -d | tar -x` runs two
// processes. Memory: n buffers of size bytes.
type readAhead struct {
	full chan chunk
	free chan []byte
	done chan struct{}
	wg   sync.WaitGroup
	cur  []byte
	buf  []byte // cur's whole buffer, to recycle
	err  error
	once sync.Once
}

type chunk struct {
	b   []byte
	err error
}

func newReadAhead(r io.Reader, n, size int) *readAhead {
	ra := &readAhead{full: make(chan chunk, n), free: make(chan []byte, n), done: make(chan struct{})}
	for range n {
		ra.free <- make([]byte, size)
	}
	ra.wg.Go(func() {
		for {
			var b []byte
			select {
			case b = <-ra.free:
			case <-ra.done:
				return
			}
			m, err := io.ReadFull(r, b)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF // a short last read: its data, then the end
			}
			select {
			case ra.full <- chunk{b[:m], err}:
			case <-ra.done:
				return
			}
			if err != nil {
				return
			}
		}
	})
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		c := <-ra.full
		ra.cur, ra.buf, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the reading goroutine and waits for it, so r may be
// closed after. It may be called again.
func (ra *readAhead) Close() {
	ra.once.Do(func() { close(ra.done) })
	ra.wg.Wait()
}
