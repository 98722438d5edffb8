package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// Small files are read and hashed ahead of the tar writer by a few
// goroutines (the mirror of the extract's parallel writers): the walk opens
// each file (without following links, checked against what was listed),
// hands it to a reader, and the entry is written, in walk order, once its
// bytes and sha256 are ready. The writer's goroutine then only walks and
// copies into the tar stream while the reads and hashes run beside it, as
// `tar | zstd` runs two processes. Bounded: at most aheadFiles files open
// and aheadBytes of their content in memory.
const (
	aheadMax   = 1 << 20  // larger files are read and hashed by the writer, as before
	aheadBytes = 16 << 20 // content read ahead and not yet written
	aheadFiles = 64       // files open and not yet written
)

// pending is a tar entry waiting its turn: a directory or symlink is ready
// at once; a small file once a reader has read and hashed it.
type pending struct {
	hdr   *tar.Header
	entry Entry
	f     *os.File // a small file to read, closed by the reader
	path  string
	buf   []byte
	err   error
	ready chan struct{} // closed when buf, entry's checksum and err are set (nil: ready)
}

// aheadReader reads and hashes small files for a Writer's tree.
type aheadReader struct {
	jobs  chan *pending
	queue []*pending
	bytes int64
	wg    sync.WaitGroup
	sum   entrySum
	small *freeList // buffers of 64 KiB
	large *freeList // buffers of aheadMax
}

func newAheadReader(sum entrySum) *aheadReader {
	a := &aheadReader{jobs: make(chan *pending, aheadFiles), sum: sum}
	a.small = newFreeList(64<<10, aheadFiles)
	a.large = newFreeList(aheadMax, aheadBytes/aheadMax+1)
	for range max(2, min(runtime.GOMAXPROCS(0), 4)) {
		a.wg.Go(func() {
			for p := range a.jobs {
				p.read(a.buf(p.hdr.Size), a.sum)
				close(p.ready)
			}
		})
	}
	return a
}

func (a *aheadReader) buf(size int64) []byte {
	if size <= 64<<10 {
		return a.small.get()[:size]
	}
	return a.large.get()[:size]
}

func (a *aheadReader) recycle(b []byte) {
	if cap(b) == 64<<10 {
		a.small.put(b)
	} else {
		a.large.put(b)
	}
}

// read fills buf with the file's hdr.Size bytes and hashes them.
func (p *pending) read(buf []byte, sum entrySum) {
	defer p.f.Close()
	p.buf = buf
	n, err := io.ReadFull(p.f, buf)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		p.err = fmt.Errorf("archive %s: the file shrank from %d to %d bytes while it was read; run the backup again", p.path, len(buf), n)
	case err != nil:
		p.err = fmt.Errorf("archive %s: %w", p.path, err)
	default:
		sum.set(&p.entry, sum.of(buf))
	}
}

// push queues p, sent to a reader when it has a file.
func (a *aheadReader) push(p *pending) {
	if p.f != nil {
		p.ready = make(chan struct{})
		a.bytes += p.hdr.Size
		a.jobs <- p
	}
	a.queue = append(a.queue, p)
}

// full reports whether the queue must be written down before more is read.
func (a *aheadReader) full() bool {
	return len(a.queue) >= aheadFiles || a.bytes >= aheadBytes
}

// pop waits for the first queued entry and removes it.
func (a *aheadReader) pop() *pending {
	p := a.queue[0]
	a.queue[0] = nil
	a.queue = a.queue[1:]
	if p.ready != nil {
		<-p.ready
		a.bytes -= p.hdr.Size
	}
	return p
}

// close waits for the readers, after which no file is open and no buffer
// is written to; entries still queued are dropped.
func (a *aheadReader) close() {
	close(a.jobs)
	a.wg.Wait()
	a.queue = nil
}

// writePending writes the first queued entry.
func (w *Writer) writePending(a *aheadReader) error {
	p := a.pop()
	if p.err != nil {
		return p.err
	}
	if err := w.tw.WriteHeader(p.hdr); err != nil {
		return err
	}
	if p.buf != nil {
		_, err := w.tw.Write(p.buf)
		a.recycle(p.buf)
		if err != nil {
			return err
		}
		if pr := w.opts.Progress; pr != nil {
			pr.Files.Add(p.hdr.Size)
		}
	}
	w.entries = append(w.entries, p.entry)
	return nil
}
