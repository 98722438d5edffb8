package archive

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Slices handed out never overlap while held, a slab comes back only when
// the reader has moved on and every file in it is released, and no more
// than count slabs are ever made: alloc waits instead.
func TestSlabsBoundAndReuse(t *testing.T) {
	t.Parallel()
	cs := newSlabs(100, 2)
	held := map[*slab][][]byte{}
	var order []*slab
	for i := range 4 { // two 40-byte files to a 100-byte slab
		c, b := cs.alloc(40)
		if len(b) != 40 || cap(b) != 40 {
			t.Fatalf("alloc(40): len %d cap %d", len(b), cap(b))
		}
		for k := range b {
			b[k] = byte(i)
		}
		if len(held[c]) == 0 {
			order = append(order, c)
		}
		held[c] = append(held[c], b)
	}
	if cs.made != 2 || len(order) != 2 {
		t.Fatalf("made %d slabs for four 40-byte files in 100-byte slabs, want 2", cs.made)
	}
	for i, c := range order {
		for k, b := range held[c] {
			if want := bytes.Repeat([]byte{byte(2*i + k)}, 40); !bytes.Equal(b, want) {
				t.Fatalf("file %d was overwritten", 2*i+k)
			}
		}
	}
	got := make(chan *slab)
	go func() {
		c, _ := cs.alloc(40) // both slabs in use: waits
		got <- c
	}()
	select {
	case <-got:
		t.Fatal("alloc returned a third slab while two were held")
	case <-time.After(50 * time.Millisecond):
	}
	// The first slab is not the reader's current one: releasing its two
	// files frees it.
	first := order[0]
	first.release(cs)
	select {
	case <-got:
		t.Fatal("alloc got a slab with a file still held")
	case <-time.After(50 * time.Millisecond):
	}
	first.release(cs)
	if c := <-got; c != first {
		t.Fatal("alloc did not reuse the freed slab")
	}
	if cs.made != 2 {
		t.Fatalf("made %d slabs, want 2", cs.made)
	}
}

// Files released from many goroutines at once (as the writers do) free
// every slab once: -race checks the hand-over.
func TestSlabsConcurrentRelease(t *testing.T) {
	t.Parallel()
	cs := newSlabs(1<<10, 4)
	type held struct {
		c *slab
		b []byte
		v byte
	}
	q := make(chan held, 16)
	var wg sync.WaitGroup
	errs := make(chan string, 1)
	for range 4 {
		wg.Go(func() {
			for h := range q {
				for _, x := range h.b {
					if x != h.v {
						select {
						case errs <- "a held file was overwritten":
						default:
						}
						break
					}
				}
				h.c.release(cs)
			}
		})
	}
	for i := range 5000 {
		n := 1 + i%300
		c, b := cs.alloc(n)
		v := byte(i)
		for k := range b {
			b[k] = v
		}
		q <- held{c, b, v}
	}
	close(q)
	wg.Wait()
	cs.drop()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
	if cs.made > 4 {
		t.Fatalf("made %d slabs, at most 4 allowed", cs.made)
	}
	if len(cs.free) != cs.made {
		t.Fatalf("%d of %d slabs came back", len(cs.free), cs.made)
	}
}
