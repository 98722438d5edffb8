package archive

import "testing"

func TestFreeListReusesAndBounds(t *testing.T) {
	l := newFreeList(16, 2)
	a := l.get()
	if len(a) != 16 {
		t.Fatalf("get: len %d, want 16", len(a))
	}
	a[0] = 1
	l.put(a[:3]) // a shortened buffer comes back whole
	if b := l.get(); len(b) != 16 || &b[0] != &a[0] {
		t.Fatalf("get after put: not the kept buffer (len %d)", len(b))
	}
	l.put(make([]byte, 8)) // smaller than size: dropped
	if len(l.free) != 0 {
		t.Fatal("a buffer smaller than the size was kept")
	}
	for range 3 {
		l.put(make([]byte, 16))
	}
	if len(l.free) != 2 {
		t.Fatalf("kept %d buffers, want at most 2", len(l.free))
	}
}
