package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// MaxManifestSize bounds the manifest entry (a site with a million files
// stays well under it).
const MaxManifestSize = 256 << 20

// Extract unpacks the archive at path into dest, which must not exist:
// dest/files/... is the site directory and dest/database.sql the database
// dump. Every entry is checked against the manifest (the same names, types,
// sizes and links) and, when wantSHA is not empty, the archive against
// wantSHA. Without wantSHA each entry's content is checked against its
// checksum in the manifest; with it, the archive's sha256 matching the one
// recorded when it was written proves every byte is what the writer
// hashed, so the contents are not hashed a second time (a fifth of an
// unpack's CPU). Verify always hashes them. On any error dest is
// removed and the error wraps ErrCorrupt when the archive is at fault.
// p, when not nil, counts the archive's bytes read and the files' and
// dump's bytes written.
func Extract(ctx context.Context, archivePath, dest, wantSHA string, p *Progress) (*Manifest, error) {
	return ExtractWith(ctx, archivePath, dest, wantSHA, p, nil)
}

// ExtractWith is Extract, but when db is not nil the database dump is
// written to db as it is read (dest then has no database.sql), so a
// database load can run while the files unpack. db sees the dump before
// the archive is verified: whoever reads what db received must wait for
// ExtractWith's result before trusting it.
func ExtractWith(ctx context.Context, archivePath, dest, wantSHA string, p *Progress, db io.Writer) (*Manifest, error) {
	if err := os.Mkdir(dest, 0o750); err != nil {
		return nil, fmt.Errorf("create staging directory: %w", err)
	}
	m, err := extract(ctx, archivePath, dest, wantSHA, p, db)
	if err != nil {
		_ = os.RemoveAll(dest)
		return nil, err
	}
	return m, nil
}

func extract(ctx context.Context, archivePath, dest, wantSHA string, p *Progress, dbw io.Writer) (*Manifest, error) {
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if err := root.Mkdir("files", 0o750); err != nil {
		return nil, err
	}
	var db *os.File
	defer func() {
		if db != nil {
			_ = db.Close()
		}
	}()
	type dirTime struct {
		name string
		mode os.FileMode
		mt   time.Time
	}
	var dirs []dirTime
	made := map[string]bool{".": true} // directories known to exist: one MkdirAll each
	mkdirAll := func(name string) error {
		if made[name] {
			return nil
		}
		if err := root.MkdirAll(name, 0o750); err != nil {
			return err
		}
		made[name] = true
		return nil
	}
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	var filesN, dbN *atomic.Int64
	if p != nil {
		filesN, dbN = &p.Files, &p.Database
	}
	fw := newFileWriters(root, filesN)
	defer fw.close() // after an error; the success path waits below
	m, err := walk(ctx, archivePath, wantSHA, wantSHA == "", p, func(hdr *tar.Header, r io.Reader) error {
		name := strings.TrimSuffix(hdr.Name, "/")
		mode := os.FileMode(hdr.Mode) & 0o777
		switch {
		case isDatabase(name) && dbw != nil:
			return copyFull(dbw, r, *bufp, dbN)
		case isDatabase(name):
			if db == nil {
				f, err := root.OpenFile(DatabaseName, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return err
				}
				db = f
			}
			return copyFull(db, r, *bufp, dbN)
		case hdr.Typeflag == tar.TypeDir:
			if err := mkdirAll(name); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{name, mode, hdr.ModTime})
			return nil
		case hdr.Typeflag == tar.TypeSymlink:
			if err := mkdirAll(path.Dir(name)); err != nil {
				return err
			}
			return root.Symlink(hdr.Linkname, name)
		default:
			if err := mkdirAll(path.Dir(name)); err != nil {
				return err
			}
			if hdr.Size <= smallFile {
				return fw.write(name, mode, hdr.ModTime, r, hdr.Size)
			}
			f, err := fw.createFile(name, mode|0o200)
			if err != nil {
				return err
			}
			err = copyFull(f, r, *bufp, filesN)
			if err == nil && hdr.Size >= writebackMin {
				// Start writing it to disk now, so the sync that ends a
				// restore finds little left to write.
				startWriteback(f, 0, hdr.Size)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if mode&0o200 == 0 {
				_ = root.Chmod(name, mode)
			}
			_ = root.Chtimes(name, hdr.ModTime, hdr.ModTime)
			return nil
		}
	})
	if werr := fw.close(); err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	if db != nil {
		if err := db.Close(); err != nil {
			return nil, err
		}
		db = nil
	} else if dbw == nil { // else the dump went to dbw
		if f, err := root.OpenFile(DatabaseName, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
			_ = f.Close() // an archive without a database: an empty dump
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = root.Chmod(dirs[i].name, dirs[i].mode|0o700)
		_ = root.Chtimes(dirs[i].name, dirs[i].mt, dirs[i].mt)
	}
	return m, nil
}

// smallFile is the largest file extract hands to its file writers; a
// larger one is written by the reading goroutine itself (its write is
// mostly copying, which a writer would only add a copy to).
const smallFile = 128 << 10

// writebackMin is the smallest file whose writeback extract starts as soon
// as it is written; smaller ones are left to the sync that ends a restore.
const writebackMin = 256 << 10

// copyFull copies r to w in writes of len(buf) (the last one shorter): the
// decompressed stream comes in blocks of up to 128 KiB, and writing each
// as it comes costs a syscall per block. Each write is added to total
// when total is not nil.
func copyFull(w io.Writer, r io.Reader, buf []byte, total *atomic.Int64) error {
	for {
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = r.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if total != nil {
				total.Add(int64(n))
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// ReadDatabase writes the archive's database dump to w, then checks the
// archive against its manifest and wantSHA as Extract does. Use it to
// reload a database from an archive aegir just wrote and verified. p,
// when not nil, counts the archive's bytes read and the dump's written.
func ReadDatabase(ctx context.Context, archivePath, wantSHA string, w io.Writer, p *Progress) (*Manifest, error) {
	if p != nil {
		w = countedWriter{w, &p.Database}
	}
	return walk(ctx, archivePath, wantSHA, wantSHA == "", p, func(hdr *tar.Header, r io.Reader) error {
		if isDatabase(hdr.Name) {
			_, err := io.Copy(w, r)
			return err
		}
		return nil
	})
}

// Verify reads the whole archive and checks every entry, content
// included, against the manifest and the archive against wantSHA when not
// empty. p, when not nil, counts the archive's bytes read.
func Verify(ctx context.Context, archivePath, wantSHA string, p *Progress) (*Manifest, error) {
	return walk(ctx, archivePath, wantSHA, true, p, func(*tar.Header, io.Reader) error { return nil })
}

func isDatabase(name string) bool {
	if name == DatabaseName {
		return true
	}
	rest, ok := strings.CutPrefix(name, DatabaseName+".part-")
	if !ok || len(rest) != 6 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return true
}

// checkName refuses an entry aegir never writes: anything outside files/,
// absolute or with "..", or a symlink with an empty target. A symlink may
// point anywhere, also outside the site (Debian's DokuWiki ships such
// links; the writer reports them, see LinkLeaves): it is restored as the
// name it is, and walk refuses every entry that would be written through
// it (underLink), so nothing is ever written where a link points.
func checkName(hdr *tar.Header) error {
	name := strings.TrimSuffix(hdr.Name, "/")
	if name == ManifestName || isDatabase(name) {
		if hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("entry %q is not a regular file", name)
		}
		return nil
	}
	if !strings.HasPrefix(name, FilesPrefix) || path.Clean(name) != name || strings.Contains(name, "\x00") {
		return fmt.Errorf("entry %q is outside files/ or not a clean path", clipName(name))
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir:
	case tar.TypeSymlink:
		if l := hdr.Linkname; l == "" || strings.Contains(l, "\x00") {
			return fmt.Errorf("symlink %q has no valid target", clipName(name))
		}
	default:
		return fmt.Errorf("entry %q has type %q, which aegir never writes", clipName(name), hdr.Typeflag)
	}
	return nil
}

// underLink returns the symlink among links that name lies under
// (through which it would be written), or "".
func underLink(links map[string]bool, name string) string {
	if len(links) == 0 {
		return ""
	}
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		if links[d] {
			return d
		}
	}
	return ""
}

func clipName(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

type hashReader struct {
	r    io.Reader
	h    interface{ Write([]byte) (int, error) }
	n    int64
	mark bool // wrap read errors in readError
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if err != nil && err != io.EOF && h.mark {
		err = &readError{err}
	}
	return n, err
}

// readError marks an error reading the archive (as opposed to writing the
// extracted files), so walk can say the archive is at fault.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// walk reads the archive once, hashing the compressed bytes and, when
// hashEntries, every entry's content; calls fn for each entry before the
// manifest; and checks what it saw against the manifest at the end. The
// compressed bytes read are added to p.Archive when p is not nil.
//
// The manifest, and with it the archive's format, comes last, so an
// entry's content is checksummed both ways (sha256 for Format1, XXH64 for
// Format2) and the manifest's format picks the one compared: XXH64 costs
// a few percent of sha256, and only Verify and an extract without a
// recorded sha256 hash entries at all.
func walk(ctx context.Context, archivePath, wantSHA string, hashEntries bool, p *Progress, fn func(*tar.Header, io.Reader) error) (*Manifest, error) {
	f, err := os.Open(archivePath)
	if err != nil {
		return nil, fmt.Errorf("open backup archive: %w", err)
	}
	defer f.Close()
	var in io.Reader = f
	if p != nil {
		in = countedReader{f, &p.Archive}
	}
	archiveSum := sha256.New()
	hr := &hashReader{r: bufio.NewReaderSize(in, 1<<20), h: archiveSum}
	// Synchronous decoding: the concurrent decoder pipelines the stages of
	// one block over goroutines, which measured a third slower and uses
	// more CPU (zstd decodes ~1.2 GB/s on one core, well ahead of the
	// file writes and sha256 of an extract). The decoded stream is read a
	// few MiB ahead on a goroutine of its own (readAhead), so reading,
	// hashing and decoding overlap with writing the files.
	dec, err := zstd.NewReader(hr, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	ra := newReadAhead(dec, 4, 1<<20)
	defer ra.Close()
	tr := tar.NewReader(ra)
	seen := map[string]Entry{}
	links := map[string]bool{} // symlinks seen: nothing may lie under one
	var order []string
	var m *Manifest
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, corrupt(archivePath, "cannot read it as a zstd-compressed tar: %v", err)
		}
		if m != nil {
			return nil, corrupt(archivePath, "entry %q follows the manifest", clipName(hdr.Name))
		}
		if err := checkName(hdr); err != nil {
			return nil, corrupt(archivePath, "%v", err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if _, dup := seen[name]; dup {
			return nil, corrupt(archivePath, "entry %q appears twice", clipName(name))
		}
		if l := underLink(links, name); l != "" {
			return nil, corrupt(archivePath, "entry %q lies under the symlink %q, which aegir never writes", clipName(name), clipName(l))
		}
		if name == ManifestName {
			if hdr.Size > MaxManifestSize {
				return nil, corrupt(archivePath, "the manifest is %d bytes", hdr.Size)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, corrupt(archivePath, "cannot read the manifest: %v", err)
			}
			m = &Manifest{}
			if err := json.Unmarshal(b, m); err != nil {
				return nil, corrupt(archivePath, "the manifest is not valid JSON: %v", err)
			}
			continue
		}
		e := Entry{Name: name}
		switch hdr.Typeflag {
		case tar.TypeDir:
			e.Type = TypeDir
			err = fn(hdr, nil)
		case tar.TypeSymlink:
			e.Type, e.Link = TypeSymlink, hdr.Linkname
			links[name] = true
			err = fn(hdr, nil)
		default:
			cr := &hashReader{r: tr, h: io.Discard, mark: true}
			var h1, h2 hash.Hash
			if hashEntries {
				h1, h2 = entrySum(Format1).new(), entrySum(Format2).new()
				cr.h = io.MultiWriter(h1, h2)
			}
			err = fn(hdr, cr)
			if err == nil {
				_, err = io.Copy(io.Discard, cr) // fn may not read it all
			}
			e.Type, e.Size = TypeFile, cr.n
			if hashEntries {
				e.SHA256, e.XXH64 = sum(h1), sum(h2)
			}
		}
		if err != nil {
			var re *readError
			if errors.As(err, &re) {
				return nil, corrupt(archivePath, "cannot read entry %q: %v", clipName(name), err)
			}
			return nil, fmt.Errorf("extract %q: %w", clipName(name), err)
		}
		seen[name] = e
		order = append(order, name)
	}
	if _, err := io.Copy(io.Discard, ra); err != nil {
		return nil, corrupt(archivePath, "trailing data is not valid zstd: %v", err)
	}
	if _, err := io.Copy(io.Discard, hr); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, corrupt(archivePath, "it has no manifest (was the backup interrupted?)")
	}
	if !Readable(m.Format) {
		return nil, corrupt(archivePath, "archive format %d is not one this aegir reads (%d or %d; a newer aegir wrote it?)", m.Format, Format1, Format2)
	}
	if len(m.Entries) != len(order) {
		return nil, corrupt(archivePath, "the manifest lists %d entries but the archive holds %d", len(m.Entries), len(order))
	}
	for _, want := range m.Entries {
		got, ok := seen[want.Name]
		if !ok {
			return nil, corrupt(archivePath, "entry %q of the manifest is missing", clipName(want.Name))
		}
		switch {
		case !hashEntries:
			want.SHA256, want.XXH64 = "", ""
		case m.Format == Format1:
			got.XXH64 = ""
		default:
			got.SHA256 = ""
		}
		if got != want {
			return nil, corrupt(archivePath, "entry %q does not match the manifest (type, size or checksum)", clipName(want.Name))
		}
	}
	if got := sum(archiveSum); wantSHA != "" && got != wantSHA {
		return nil, corrupt(archivePath, "its sha256 is %s, not %s as recorded when it was written", got, wantSHA)
	}
	return m, nil
}
