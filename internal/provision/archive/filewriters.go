package archive

import (
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"
)

// fileWriters create small files for extract on goroutines of their own:
// a site of many small files unpacked one file at a time spent most of
// its time in open(O_CREAT). The reader reads each file into memory (a
// slice of a slab, slabs.go) and queues it to the writer of its
// directory; the directories exist already (extract made them).
//
// One writer creates a directory's files. The kernel creates the files of
// a directory one at a time anyway, under the directory's lock, and when
// eight writers took files from one queue they spun on that lock instead
// of sleeping: on ext4 without a journal, after a mass removal, where each
// creation scans the inodes freed in the last minutes, that burned twice
// the kernel CPU of a single tar -x and took the core the decompression
// needed. Files of different directories are created at once, and the
// queued files (up to slabCount slabs of memory) let the reader run a
// directory or two ahead of the writers: two tar -x into two directories
// took half the time of one tar -x of both in that state.
type fileWriters struct {
	root   *os.Root
	total  *atomic.Int64
	queues []chan fileJob
	seed   maphash.Seed
	wg     sync.WaitGroup
	slabs  *slabs
	locks  [writers]sync.Mutex // a queue's lock: held while creating one of its files
	mu     sync.Mutex
	err    error
	done   bool
}

type fileJob struct {
	name string
	mode os.FileMode
	mt   time.Time
	data []byte
	slab *slab
}

const (
	// writers is how many goroutines create files at once (each its own
	// directories).
	writers = 8
	// queueLen is how many files each writer's queue holds; the
	// memory they hold is bounded by slabs.
	queueLen = 1024
)

func newFileWriters(root *os.Root, total *atomic.Int64) *fileWriters {
	w := &fileWriters{root: root, total: total, seed: maphash.MakeSeed(), slabs: newSlabs(slabSize, slabCount)}
	for i := range writers {
		q := make(chan fileJob, queueLen)
		w.queues = append(w.queues, q)
		w.wg.Go(func() { w.run(i, q) })
	}
	return w
}

// queueOf is the number of the writer that creates name's directory's files.
func (w *fileWriters) queueOf(name string) int {
	return int(maphash.String(w.seed, path.Dir(name)) % writers)
}

// createFile creates name for writing (it must not exist). The reader
// creates large files itself: it holds the lock of the writer of name's
// directory, so the two never wait on each other inside the kernel.
func (w *fileWriters) createFile(name string, mode os.FileMode) (*os.File, error) {
	l := &w.locks[w.queueOf(name)]
	l.Lock()
	defer l.Unlock()
	return w.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
}

// write reads size bytes (at most smallFile) of r and queues them to be
// written as name. It returns the first error a writer met, so the walk
// stops.
func (w *fileWriters) write(name string, mode os.FileMode, mt time.Time, r io.Reader, size int64) error {
	if err := w.error(); err != nil {
		return err
	}
	c, b := w.slabs.alloc(int(size))
	if _, err := io.ReadFull(r, b); err != nil {
		c.release(w.slabs)
		return err
	}
	w.queues[w.queueOf(name)] <- fileJob{name: name, mode: mode, mt: mt, data: b, slab: c}
	return nil
}

func (w *fileWriters) run(i int, q <-chan fileJob) {
	var d dirRoot
	defer d.close()
	for j := range q {
		if w.error() == nil {
			if err := w.create(i, &d, j); err != nil {
				w.mu.Lock()
				if w.err == nil {
					w.err = fmt.Errorf("extract %q: %w", clipName(j.name), err)
				}
				w.mu.Unlock()
			}
		}
		j.slab.release(w.slabs)
	}
}

// dirRoot is a writer's open directory: the one its last file went to.
// A directory's files come one after another, and a file created through
// the archive's root walks its path one directory at a time (an open and
// a close each), twice with the times set after it.
type dirRoot struct {
	name string
	root *os.Root
}

func (d *dirRoot) open(root *os.Root, name string) (*os.Root, error) {
	if d.root != nil && d.name == name {
		return d.root, nil
	}
	d.close()
	r, err := root.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	d.name, d.root = name, r
	return r, nil
}

func (d *dirRoot) close() {
	if d.root != nil {
		_ = d.root.Close()
		d.root = nil
	}
}

func (w *fileWriters) create(i int, d *dirRoot, j fileJob) error {
	dir, base := path.Split(j.name)
	r, err := d.open(w.root, path.Clean(dir))
	if err != nil {
		return err
	}
	w.locks[i].Lock()
	f, err := r.OpenFile(base, os.O_CREATE|os.O_EXCL|os.O_WRONLY, j.mode|0o200)
	w.locks[i].Unlock()
	if err != nil {
		return err
	}
	_, err = f.Write(j.data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if w.total != nil {
		w.total.Add(int64(len(j.data)))
	}
	if j.mode&0o200 == 0 {
		_ = r.Chmod(base, j.mode)
	}
	_ = r.Chtimes(base, j.mt, j.mt)
	return nil
}

func (w *fileWriters) error() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// close waits for the queued files to be written and returns the first
// error. It may be called again.
func (w *fileWriters) close() error {
	w.mu.Lock()
	if !w.done {
		w.done = true
		for _, q := range w.queues {
			close(q)
		}
	}
	w.mu.Unlock()
	w.wg.Wait()
	w.slabs.drop()
	return w.error()
}
