package domain

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// crockford is Crockford's base32 alphabet in lower case: no i, l, o, u.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// IDLen is the length of every generated id.
const IDLen = 20

var idState struct {
	sync.Mutex
	lastMS uint64
	seq    uint64
}

// NewID returns a 20-character id that sorts by creation time: 48 bits of
// milliseconds, then a 12-bit per-millisecond sequence, then 40 random bits.
// Keys built from these ids list in creation order in both store backends, so
// the task queue is ordered without a separate sequence key.
func NewID() string {
	now := uint64(time.Now().UnixMilli())
	idState.Lock()
	if now <= idState.lastMS {
		now = idState.lastMS
		idState.seq++
		if idState.seq >= 1<<12 {
			now++
			idState.seq = 0
		}
	} else {
		idState.seq = 0
	}
	idState.lastMS = now
	seq := idState.seq
	idState.Unlock()

	return encodeID(now, seq)
}

// NewIDAt returns an id for a record created at t, in the past: for
// imports and test fixtures whose records must sort (and be stored) by
// their own creation time. Its sequence bits are random, so ids made for
// one millisecond are unique but not ordered among themselves.
func NewIDAt(t time.Time) string {
	var rnd [2]byte
	_, _ = rand.Read(rnd[:])
	return encodeID(uint64(t.UnixMilli()), uint64(binary.BigEndian.Uint16(rnd[:]))&(1<<12-1))
}

func encodeID(ms, seq uint64) string {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	r := binary.BigEndian.Uint64(rnd[:]) >> 24 // 40 bits

	// 48 + 12 + 40 = 100 bits = 20 base32 characters.
	hi := ms<<12 | seq // 60 bits
	var out [IDLen]byte
	for i := 11; i >= 0; i-- {
		out[i] = crockford[hi&31]
		hi >>= 5
	}
	for i := 19; i >= 12; i-- {
		out[i] = crockford[r&31]
		r >>= 5
	}
	return string(out[:])
}

// ValidID reports whether s has the shape of an id made by NewID. Ids come
// back in URLs and are used in store keys, so they are checked at the edge.
func ValidID(s string) bool {
	if len(s) != IDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') || c == 'i' || c == 'l' || c == 'o' || c == 'u' {
			return false
		}
	}
	return true
}

// IDTime returns the creation time NewID encoded in id, to the millisecond;
// false when id is not a valid id.
func IDTime(id string) (time.Time, bool) {
	if !ValidID(id) {
		return time.Time{}, false
	}
	var hi uint64
	for i := 0; i < 12; i++ {
		hi = hi<<5 | uint64(strings.IndexByte(crockford, id[i]))
	}
	return time.UnixMilli(int64(hi >> 12)).UTC(), true
}
