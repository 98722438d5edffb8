package archive

import (
	"io"
	"sync/atomic"
)

// Progress counts the bytes an archive operation has handled so far, for
// a caller that reports progress while it runs (the back end logs a line
// every few seconds). The counters grow as the bytes pass, once per
// buffer (up to 1 MiB; one part, Options.ChunkSize, for a streamed
// database), never per file, and may be read from any goroutine while
// the operation runs. A nil *Progress counts nothing.
type Progress struct {
	// Files is the bytes of the site's files read into the archive
	// (Writer) or written out of it (Extract).
	Files atomic.Int64
	// Database is the bytes of the stream added (Writer.AddStream,
	// AddTreeAndStream: the database dump) or of the dump written out
	// (Extract, ReadDatabase).
	Database atomic.Int64
	// Archive is the compressed bytes written (Writer) or read (Extract,
	// ReadDatabase, Verify); next to the archive's size, it says how far
	// a read has got.
	Archive atomic.Int64
}

// adder adds the length of each write to n.
type adder struct{ n *atomic.Int64 }

func (a adder) Write(b []byte) (int, error) {
	a.n.Add(int64(len(b)))
	return len(b), nil
}

// countedWriter passes writes to w and adds what was written to n.
type countedWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countedWriter) Write(b []byte) (int, error) {
	k, err := c.w.Write(b)
	c.n.Add(int64(k))
	return k, err
}

// countedReader passes reads to r and adds what was read to n.
type countedReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countedReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n.Add(int64(k))
	return k, err
}
