package archive

import (
	"archive/tar"
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/provision/sitetree"
	"github.com/klauspost/compress/zstd"
)

// Options tune a Writer.
type Options struct {
	// Concurrency is the number of zstd frames compressed at once, each by
	// its own goroutine, holding about (Concurrency+2)×8 MiB of buffers.
	// Default GOMAXPROCS, at most 4, which bounds a backup's memory on a
	// large machine (raise it where backups should use more cores).
	Concurrency int
	// Level is the zstd level. Default zstd.SpeedDefault (about zstd -3, the
	// zstd command's default).
	Level zstd.EncoderLevel
	// ChunkSize is the size of one database part held in memory while it is
	// written: a tar entry needs its size before its content, so a streamed
	// dump is cut into parts instead of spooled to a temp file. Default 8 MiB.
	ChunkSize int
	// Progress, when not nil, counts the bytes of files, stream and
	// archive as they are written (see Progress). Default nil.
	Progress *Progress
	// Owner is the id of the task writing the archive. It is part of the
	// temp file's name (TempName), so what a killed task left can be told
	// from what a running one is writing. Default "" (no owner in the
	// name). It must not contain '-' or '/'.
	Owner string
	// Format is the archive format to write (Format1 or Format2). Default
	// FormatVersion; Format1 for readers of releases before Format2.
	Format int
}

func (o Options) withDefaults() Options {
	o.Concurrency = cmp.Or(o.Concurrency, min(runtime.GOMAXPROCS(0), 4))
	o.Level = cmp.Or(o.Level, zstd.SpeedDefault)
	o.ChunkSize = cmp.Or(o.ChunkSize, 8<<20)
	o.Format = cmp.Or(o.Format, FormatVersion)
	return o
}

// Writer streams a site archive: tar entries through a concurrent zstd
// encoder (frames.go) into a temp file beside the final path, checksumming every
// entry (entrysum.go) and hashing the compressed bytes as they pass. Commit appends the manifest, syncs
// the file while it re-reads it to verify it, and renames it into place.
type Writer struct {
	path     string
	tmp      *os.File
	buf      *bufio.Writer
	sum      hash.Hash   // sha256 of the archive: the backup's recorded checksum
	crc      hash.Hash32 // CRC-32C of the archive, to check the re-read against
	counter  *countWriter
	zw       *frameEncoder
	tw       *tar.Writer
	opts     Options
	entries  []Entry
	external []ExternalLink
	done     bool
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writebackFile writes to f and, every writebackSize bytes, asks the
// kernel to start writing them to disk (writeback_linux.go), so the fsync
// at Commit, which the backup waits for, finds little left to write.
type writebackFile struct {
	f        *os.File
	off, end int64 // writeback started for [0, off); written [0, end)
}

const writebackSize = 8 << 20

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.end += int64(n)
	if w.end-w.off >= writebackSize {
		startWriteback(w.f, w.off, w.end-w.off)
		w.off = w.end
	}
	return n, err
}

// countWriter counts the archive's bytes, and adds them to p.Archive
// when p is not nil.
type countWriter struct {
	n int64
	p *Progress
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.p != nil {
		c.p.Archive.Add(int64(len(p)))
	}
	return len(p), nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// tempInfix separates an archive's final name from its temp suffix.
const tempInfix = ".tmp-"

// TempName is the name an archive is written under before Commit renames
// it to final: final.tmp-<owner>-<random>, or final.tmp-<random> without
// an owner (archives written before owners were named).
func TempName(final, owner, random string) string {
	if owner == "" {
		return final + tempInfix + random
	}
	return final + tempInfix + owner + "-" + random
}

// ParseTempName reports whether name (a base name or a path) is an
// archive's temp file, and the owner its name carries ("" for a temp file
// named without one).
func ParseTempName(name string) (owner string, ok bool) {
	i := strings.LastIndex(name, tempInfix)
	if i < 0 || !strings.HasSuffix(name[:i], ".tar.zst") {
		return "", false
	}
	rest := name[i+len(tempInfix):]
	if rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	owner, random, found := strings.Cut(rest, "-")
	if !found {
		return "", true
	}
	if owner == "" || random == "" || strings.Contains(random, "-") {
		return "", false
	}
	return owner, true
}

// Create starts an archive that will be written at path. The directory must
// exist. Call Commit or Abort.
func Create(path string, opts Options) (*Writer, error) {
	opts = opts.withDefaults()
	if strings.ContainsAny(opts.Owner, "-/") {
		return nil, fmt.Errorf("create backup archive: owner %q has a '-' or '/'", opts.Owner)
	}
	if !Readable(opts.Format) {
		return nil, fmt.Errorf("create backup archive: format %d is not %d or %d", opts.Format, Format1, Format2)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp, err := os.OpenFile(TempName(path, opts.Owner, hex.EncodeToString(rnd[:])), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create backup archive: %w", err)
	}
	w := &Writer{path: path, tmp: tmp, sum: sha256.New(), crc: crc32.New(castagnoli), counter: &countWriter{p: opts.Progress}, opts: opts}
	w.buf = bufio.NewWriterSize(io.MultiWriter(&writebackFile{f: tmp}, w.sum, w.crc, w.counter), 1<<20)
	w.zw, err = newFrameEncoder(w.buf, opts.Concurrency, zstd.WithEncoderLevel(opts.Level),
		// Entropy-code the literals of every block: by default the encoder
		// skips it for blocks with few matches, which left archives of
		// text-like data ~25% larger than zstd -3's.
		zstd.WithAllLitEntropyCompression(true),
		// No xxhash per frame: every entry has its checksum in the manifest
		// and the whole archive its recorded sha256, both checked before
		// a restore changes anything; a third hash of the same bytes
		// cost ~8 ms of a 60 MB backup's CPU (and again at restore).
		zstd.WithEncoderCRC(false),
		// A frame is frameSize of input, so no match is further back than
		// that: a larger window (8 MiB at this level) only made each
		// encoder's history, allocated and zeroed per archive, twice as
		// large.
		zstd.WithWindowSize(frameSize))
	if err != nil {
		w.Abort()
		return nil, fmt.Errorf("start zstd encoder: %w", err)
	}
	w.tw = tar.NewWriter(w.zw)
	return w, nil
}

// AddTree adds the directory dir under prefix (e.g. "files/"): directories,
// regular files and symlinks, with their permissions and times. Other file
// types (sockets, devices) are skipped.
func (w *Writer) AddTree(ctx context.Context, dir, prefix string) error {
	return w.addTree(ctx, dir, prefix, nil)
}

// addTree is AddTree; when s is not nil, the parts of s read so far are
// added before each entry of the tree (stream.go). The tree is read with
// sitetree.Walk: no entry is opened through a link, so a site's owner
// swapping a directory for a symlink while the backup runs cannot get
// anything from outside the site into the archive. A symlink whose target
// leaves dir is archived as the link it is and recorded (ExternalLinks).
func (w *Writer) addTree(ctx context.Context, dir, prefix string, s *streamParts) error {
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	a := newAheadReader(entrySum(w.opts.Format))
	defer a.close()
	// flush writes the queued entries down to keep, each after the
	// stream's parts read so far.
	flush := func(keep int) error {
		for len(a.queue) > keep {
			if s != nil {
				if err := w.addReadyParts(s); err != nil {
					return err
				}
			}
			if err := w.writePending(a); err != nil {
				return err
			}
		}
		return nil
	}
	err := sitetree.Walk(ctx, dir, func(e *sitetree.Entry) error {
		for a.full() {
			if err := flush(len(a.queue) - 1); err != nil {
				return err
			}
		}
		name := prefix + e.Rel
		hdr := &tar.Header{
			Name:    name,
			Mode:    int64(e.Mode.Perm()),
			ModTime: e.ModTime,
			Format:  tar.FormatPAX,
		}
		switch {
		case e.Mode.IsRegular() && e.Size <= aheadMax:
			f, err := e.Open()
			if err != nil {
				return err
			}
			hdr.Typeflag = tar.TypeReg
			hdr.Size = e.Size
			a.push(&pending{hdr: hdr, f: f, path: e.Path(), entry: Entry{Name: name, Type: TypeFile, Size: e.Size}})
			return nil
		case e.Mode.IsRegular():
			if err := flush(0); err != nil {
				return err
			}
			if s != nil {
				if err := w.addReadyParts(s); err != nil {
					return err
				}
			}
			hdr.Typeflag = tar.TypeReg
			hdr.Size = e.Size
			return w.addFile(hdr, e, *bufp)
		case e.Mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
			a.push(&pending{hdr: hdr, entry: Entry{Name: name, Type: TypeDir}})
			return nil
		case e.Mode&fs.ModeSymlink != 0:
			link, err := e.Readlink()
			if err != nil {
				return err
			}
			if LinkLeaves(e.Rel, link) {
				w.external = append(w.external, ExternalLink{Name: name, Target: link})
			}
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = link
			a.push(&pending{hdr: hdr, entry: Entry{Name: name, Type: TypeSymlink, Link: link}})
			return nil
		default:
			return nil
		}
	})
	if err != nil {
		return err
	}
	return flush(0)
}

// ExternalLinks returns the symlinks added so far whose targets leave the
// directory added by AddTree (see LinkLeaves), in the order they were
// added.
func (w *Writer) ExternalLinks() []ExternalLink { return slices.Clone(w.external) }

func (w *Writer) addFile(hdr *tar.Header, e *sitetree.Entry, buf []byte) error {
	f, err := e.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	p := e.Path()
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	h := entrySum(w.opts.Format).new()
	dst := io.MultiWriter(w.tw, h)
	if p := w.opts.Progress; p != nil {
		dst = io.MultiWriter(w.tw, h, adder{&p.Files})
	}
	n, err := io.CopyBuffer(dst, io.LimitReader(f, hdr.Size), buf)
	if err != nil {
		return fmt.Errorf("archive %s: %w", p, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("archive %s: the file shrank from %d to %d bytes while it was read; run the backup again", p, hdr.Size, n)
	}
	ent := Entry{Name: hdr.Name, Type: TypeFile, Size: n}
	entrySum(w.opts.Format).set(&ent, sum(h))
	w.entries = append(w.entries, ent)
	return nil
}

// AddStream adds the content of r as the entry name, in parts of
// Options.ChunkSize held in memory; a stream that fits in one part is one
// entry called name.
func (w *Writer) AddStream(ctx context.Context, name string, r io.Reader) error {
	cur := make([]byte, w.opts.ChunkSize)
	next := make([]byte, w.opts.ChunkSize)
	n, err := readChunk(r, cur)
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := 0
		if n == len(cur) {
			if m, err = readChunk(r, next); err != nil {
				return err
			}
		}
		entry := name
		if i > 0 || m > 0 {
			entry = partName(name, i)
		}
		if err := w.addBytes(entry, cur[:n]); err != nil {
			return err
		}
		if m == 0 {
			return nil
		}
		cur, next, n = next, cur, m
	}
}

func readChunk(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return n, err
}

func (w *Writer) addBytes(name string, b []byte) error {
	return w.addBytesSum(name, b, entrySum(w.opts.Format).of(b))
}

// addBytesSum is addBytes with b's checksum (entrySum.of) already taken.
func (w *Writer) addBytesSum(name string, b []byte, sum string) error {
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(b)), ModTime: time.Now(), Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := w.tw.Write(b); err != nil {
		return err
	}
	if p := w.opts.Progress; p != nil {
		p.Database.Add(int64(len(b)))
	}
	e := Entry{Name: name, Type: TypeFile, Size: int64(len(b))}
	entrySum(w.opts.Format).set(&e, sum)
	w.entries = append(w.entries, e)
	return nil
}

// Commit writes the manifest (with the entries added so far) as the last
// entry, flushes and syncs the archive, verifies the written file by
// reading it back during the sync (its CRC-32C and size must be those of
// the bytes written, whose sha256 is Info.SHA256) and renames it to its
// final path.
func (w *Writer) Commit(m Manifest) (Info, error) {
	m.Format = w.opts.Format
	m.Entries = w.entries
	m.ExternalLinks = w.ExternalLinks()
	if m.Created.IsZero() {
		m.Created = time.Now().UTC()
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		w.Abort()
		return Info{}, err
	}
	hdr := &tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(b)), ModTime: m.Created, Format: tar.FormatPAX}
	err = w.tw.WriteHeader(hdr)
	if err == nil {
		_, err = w.tw.Write(b)
	}
	if err == nil {
		err = w.tw.Close()
	}
	if err == nil {
		err = w.zw.Close()
	}
	if err == nil {
		err = w.buf.Flush()
	}
	// Every byte is written: re-read the file to verify it while fsync
	// runs (they need different resources: the page cache and the CPU;
	// the disk). The re-read is checked with CRC-32C, not sha256: it
	// proves the file holds the bytes whose sha256 was taken as they were
	// written, and CRC-32C (the checksum ext4 and btrfs keep for the same
	// purpose) runs at memory speed where sha256 took longer than the sync.
	type reread struct {
		crc  uint32
		size int64
		err  error
	}
	verified := make(chan reread, 1)
	if err == nil {
		go func() {
			var r reread
			r.crc, r.size, r.err = fileCRC(w.tmp.Name())
			verified <- r
		}()
		err = w.tmp.Sync()
		if err == nil {
			err = w.tmp.Close()
		}
		if err != nil {
			<-verified
		}
	}
	if err != nil {
		w.Abort()
		return Info{}, fmt.Errorf("write backup archive %s: %w", w.path, err)
	}
	got := <-verified
	if err := os.Rename(w.tmp.Name(), w.path); err != nil {
		w.Abort()
		return Info{}, fmt.Errorf("write backup archive %s: %w", w.path, err)
	}
	w.done = true
	syncDir(filepath.Dir(w.path))
	info := Info{Path: w.path, Size: w.counter.n, SHA256: hex.EncodeToString(w.sum.Sum(nil)), Manifest: m}
	if got.err != nil {
		return info, fmt.Errorf("re-read backup archive %s: %w", w.path, got.err)
	}
	if want := w.crc.Sum32(); got.crc != want || got.size != info.Size {
		return info, corrupt(w.path, "after writing, the file's CRC-32C is %08x (%d bytes) but %08x (%d bytes) was written; check the disk", got.crc, got.size, want, info.Size)
	}
	return info, nil
}

// Abort discards the archive. It is safe to call after Commit.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	if w.zw != nil {
		_ = w.zw.Close()
	}
	_ = w.tmp.Close()
	_ = os.Remove(w.tmp.Name())
}

// FileSHA256 returns the sha256 and size of a file.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	n, err := io.CopyBuffer(h, f, *bufp)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// fileCRC returns the CRC-32C and size of a file.
func fileCRC(path string) (uint32, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	n, err := io.CopyBuffer(h, f, *bufp)
	if err != nil {
		return 0, 0, err
	}
	return h.Sum32(), n, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
