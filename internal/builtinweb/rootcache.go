package builtinweb

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// rootCache keeps docroots open as os.Root between requests: opening the
// root for every request doubles the system calls of a static hit. An
// entry is trusted for ttl; after that one stat of the docroot path checks
// it still names the directory the Root holds (a restore may have renamed
// a new one into place), else it is reopened. At most max roots stay open;
// past that an arbitrary one is closed (os.Root.Close waits for the
// operations in flight on it).
type rootCache struct {
	ttl int64 // nanoseconds
	max int

	mu sync.Mutex
	m  map[string]*rootEntry
}

type rootEntry struct {
	root     *os.Root
	dev, ino uint64
	checked  atomic.Int64 // unix nanos of the last check
}

func newRootCache(ttl time.Duration, max int) *rootCache {
	return &rootCache{ttl: int64(ttl), max: max, m: map[string]*rootEntry{}}
}

func fileID(fi os.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino
	}
	return 0, 0
}

// get returns an open Root for docroot. The caller must not close it.
// A cached root is checked against the docroot's path at most once per
// ttl, or now when fresh.
func (c *rootCache) get(docroot string, fresh bool) (*os.Root, error) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	e := c.m[docroot]
	c.mu.Unlock()
	if e != nil {
		if !fresh && now-e.checked.Load() < c.ttl {
			return e.root, nil
		}
		if fi, err := os.Stat(docroot); err == nil {
			if dev, ino := fileID(fi); dev == e.dev && ino == e.ino && ino != 0 {
				e.checked.Store(now)
				return e.root, nil
			}
		}
		c.drop(docroot, e)
	}
	root, err := os.OpenRoot(docroot)
	if err != nil {
		return nil, err
	}
	fi, err := root.Stat(".")
	if err != nil {
		root.Close()
		return nil, err
	}
	e = &rootEntry{root: root}
	e.dev, e.ino = fileID(fi)
	e.checked.Store(now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[docroot]; old != nil {
		old.root.Close()
	} else if len(c.m) >= c.max {
		for k, v := range c.m {
			v.root.Close()
			delete(c.m, k)
			break
		}
	}
	c.m[docroot] = e
	return root, nil
}

// drop closes e if it is still the entry for docroot.
func (c *rootCache) drop(docroot string, e *rootEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[docroot] == e {
		delete(c.m, docroot)
		e.root.Close()
	}
}

// reset closes every cached root.
func (c *rootCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m {
		v.root.Close()
		delete(c.m, k)
	}
}
