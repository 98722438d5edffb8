package archive

import "sync/atomic"

const (
	// slabSize is the size of the slabs extract reads small files into
	// (at most smallFile each, so a slab holds at least eight).
	slabSize = 1 << 20
	// slabCount bounds the memory of the files queued to the writers:
	// 32 MiB, about a thousand files of 25 KB, a directory or two ahead.
	slabCount = 32
)

// slabs hand out the memory extract's reader reads small files into:
// slices of slabs of size bytes, at most count slabs at once, made as
// they are needed. A slab goes back to the free list when the reader has
// moved on to another and its last file is written. Files of a few KB
// each in a buffer of their own (of smallFile bytes) left only a few
// hundred queued in as much memory.
//
// Only the reader calls alloc and drop; any goroutine may release.
type slabs struct {
	size, count int
	made        int
	cur         *slab // the slab being filled
	free        chan *slab
}

type slab struct {
	buf  []byte
	off  int          // the reader's: buf[:off] is handed out
	refs atomic.Int32 // one per file in it not yet written, one while it is cur
}

func newSlabs(size, count int) *slabs {
	return &slabs{size: size, count: count, free: make(chan *slab, count)}
}

// alloc returns n bytes (n <= size) in a slab, and that slab, which the
// caller releases when done with them. It waits for a slab to be free
// when count are in use.
func (cs *slabs) alloc(n int) (*slab, []byte) {
	c := cs.cur
	if c == nil || len(c.buf)-c.off < n {
		if c != nil {
			c.release(cs)
		}
		c = cs.get()
		c.off = 0
		c.refs.Store(1)
		cs.cur = c
	}
	b := c.buf[c.off : c.off+n : c.off+n]
	c.off += n
	c.refs.Add(1)
	return c, b
}

func (cs *slabs) get() *slab {
	select {
	case c := <-cs.free:
		return c
	default:
	}
	if cs.made < cs.count {
		cs.made++
		return &slab{buf: make([]byte, cs.size)}
	}
	return <-cs.free
}

// release gives back the caller's hold on c.
func (c *slab) release(cs *slabs) {
	if c.refs.Add(-1) == 0 {
		cs.free <- c // never blocks: at most count slabs exist
	}
}

// drop lets go of the slab being filled (once every file is queued).
func (cs *slabs) drop() {
	if cs.cur != nil {
		cs.cur.release(cs)
		cs.cur = nil
	}
}
