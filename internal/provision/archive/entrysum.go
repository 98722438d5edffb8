package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"

	"github.com/cespare/xxhash/v2"
)

// Archive formats. They differ only in the checksum the manifest keeps of
// each entry's content; the archive as a whole is always recorded by its
// sha256 (Info.SHA256), which a restore checks before it trusts anything.
const (
	// Format1 keeps each entry's sha256 (Entry.SHA256). Every aegir
	// reads it.
	Format1 = 1
	// Format2 keeps each entry's XXH64 (Entry.XXH64). Its entries are
	// checked against accidental damage (a decoder or disk fault between
	// the archive's recorded sha256 and the files), for which a 64-bit
	// non-cryptographic hash is enough: the archive's own sha256 is what
	// proves it is the backup that was taken. It spares a backup the sha256
	// of every byte it archives, about a sixth of its CPU. Releases before
	// it refuse it ("archive format 2 is not 1").
	Format2 = 2
	// FormatVersion is the newest format this aegir writes, and the
	// default of Options.Format.
	FormatVersion = Format2
)

// Readable reports whether this aegir reads archives of format f.
func Readable(f int) bool { return f == Format1 || f == Format2 }

// entrySum is the per-entry checksum of an archive format.
type entrySum int

func (f entrySum) new() hash.Hash {
	if f == Format2 {
		return xxhash.New()
	}
	return sha256.New()
}

// of returns the checksum of b, in hex.
func (f entrySum) of(b []byte) string {
	if f == Format2 {
		var s [8]byte
		v := xxhash.Sum64(b)
		for i := range s {
			s[i] = byte(v >> (56 - 8*i))
		}
		return hex.EncodeToString(s[:])
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sum returns h's checksum, in hex: the same string of as of gives for
// the bytes written to h.
func sum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// set records the checksum sum in e's field for format f.
func (f entrySum) set(e *Entry, sum string) {
	if f == Format2 {
		e.XXH64 = sum
	} else {
		e.SHA256 = sum
	}
}

// Checksum is the checksum a manifest of format f keeps of an entry, and
// its name ("sha256", "xxh64").
func Checksum(f int, e Entry) (name, sum string) {
	if f == Format2 {
		return "xxh64", e.XXH64
	}
	return "sha256", e.SHA256
}

// NewEntryHash returns the hash a manifest of format f checksums each
// entry's content with; its Sum(nil), in hex, is what Checksum returns
// for an entry whose content was written to it.
func NewEntryHash(f int) (hash.Hash, error) {
	if !Readable(f) {
		return nil, fmt.Errorf("archive format %d is not one this aegir reads (%d or %d)", f, Format1, Format2)
	}
	return entrySum(f).new(), nil
}
