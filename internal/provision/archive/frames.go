package archive

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// frameSize is the amount of tar stream compressed as one zstd frame: each
// frame is compressed on its own, so frames are compressed in parallel,
// and each is a window of history (zstd -3 uses 2 MiB).
const frameSize = 4 << 20

// frameEncoder compresses what is written to it as a series of independent
// zstd frames, Concurrency at a time, and writes them to out in order.
// Concatenated frames are one valid zstd stream (zstd -d and every decoder
// read them as one). A stream encoder compresses one block at a time; this
// uses Concurrency cores, at a cost of at most Concurrency+2 frames in
// flight (each frameSize of input and up to as much output) plus one zstd
// encoder's tables per goroutine.
type frameEncoder struct {
	out   io.Writer
	cur   []byte
	sent  bool
	order chan *frameJob // to the writer, in stream order
	jobs  chan *frameJob // to the compressors
	bufs  *freeList      // frame buffers, in and out
	wg    sync.WaitGroup // compressors
	wrote chan struct{}  // closed when the writer is done
	mu    sync.Mutex
	err   error // the first error writing to out
}

type frameJob struct {
	src, dst []byte
	ready    chan struct{}
}

func newFrameEncoder(out io.Writer, concurrency int, opts ...zstd.EOption) (*frameEncoder, error) {
	opts = append(opts, zstd.WithEncoderConcurrency(1))
	e := &frameEncoder{
		out:   out,
		order: make(chan *frameJob, concurrency),
		jobs:  make(chan *frameJob, concurrency),
		wrote: make(chan struct{}),
	}
	// In flight at most: Concurrency jobs queued to be written, each
	// with its input and output, and as many being compressed.
	e.bufs = newFreeList(frameSize, 4*concurrency+2)
	encs := make([]*zstd.Encoder, concurrency)
	for i := range encs {
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			return nil, err
		}
		encs[i] = enc
	}
	for _, enc := range encs {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for j := range e.jobs {
				j.dst = enc.EncodeAll(j.src, j.dst)
				close(j.ready)
			}
		}()
	}
	go e.writeFrames()
	e.cur = e.buf()
	return e, nil
}

func (e *frameEncoder) buf() []byte { return e.bufs.get()[:0] }

func (e *frameEncoder) put(b []byte) { e.bufs.put(b) }

// writeFrames writes the compressed frames in order; after an error it
// keeps draining so no compressor blocks.
func (e *frameEncoder) writeFrames() {
	defer close(e.wrote)
	for j := range e.order {
		<-j.ready
		if e.error() == nil {
			if _, err := e.out.Write(j.dst); err != nil {
				e.setError(err)
			}
		}
		e.put(j.src)
		e.put(j.dst)
	}
}

func (e *frameEncoder) error() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func (e *frameEncoder) setError(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

func (e *frameEncoder) Write(p []byte) (int, error) {
	if err := e.error(); err != nil {
		return 0, err
	}
	if e.cur == nil {
		return 0, io.ErrClosedPipe
	}
	n := len(p)
	for len(p) > 0 {
		k := copy(e.cur[len(e.cur):frameSize], p)
		e.cur, p = e.cur[:len(e.cur)+k], p[k:]
		if len(e.cur) == frameSize {
			e.submit()
		}
	}
	return n, nil
}

func (e *frameEncoder) submit() {
	j := &frameJob{src: e.cur, dst: e.buf(), ready: make(chan struct{})}
	e.order <- j // blocks while Concurrency frames wait to be written
	e.jobs <- j
	e.cur, e.sent = e.buf(), true
}

// Close compresses what is left, waits until every frame is written and
// returns the first error writing them.
func (e *frameEncoder) Close() error {
	if e.cur == nil {
		return e.error()
	}
	if len(e.cur) > 0 || !e.sent {
		e.submit() // an empty stream is still one (empty) frame
	}
	e.cur = nil
	close(e.order)
	close(e.jobs)
	e.wg.Wait()
	<-e.wrote
	return e.error()
}

var _ io.WriteCloser = (*frameEncoder)(nil)
