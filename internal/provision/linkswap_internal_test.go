package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/aegirhq/aegir/internal/provision/archive"
	"github.com/aegirhq/aegir/internal/provision/sitetree"
)

// linkSwapSite builds a site of many files whose directory "d" a tenant
// keeps swapping for a symlink to a directory outside the site (holding
// files of the same names with marker as content), and back, until stop
// is called. It returns the site directory, the marker and stop, which
// returns how many swaps were made.
func linkSwapSite(t *testing.T) (string, []byte, func() int) {
	t.Helper()
	base := t.TempDir()
	site, outside := filepath.Join(base, "site"), filepath.Join(base, "outside")
	marker := []byte(fmt.Sprintf("OUTSIDE-MARKER-%d", time.Now().UnixNano()))
	for _, d := range []string{site, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		sub := filepath.Join(site, fmt.Sprintf("dir%02d", i))
		if i == 10 {
			sub = filepath.Join(site, "d")
		}
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for j := range 100 {
			name := fmt.Sprintf("f%03d", j)
			if err := os.WriteFile(filepath.Join(sub, name), []byte(strings.Repeat("site ", 20)), 0o644); err != nil {
				t.Fatal(err)
			}
			if i == 10 {
				if err := os.WriteFile(filepath.Join(outside, name), marker, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// The swap is atomic where the file system can exchange two names
	// (renameat2 RENAME_EXCHANGE): "d" is always a directory or a link.
	d, link := filepath.Join(site, "d"), filepath.Join(site, ".d-link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	exchange := func() error { return unix.Renameat2(unix.AT_FDCWD, d, unix.AT_FDCWD, link, unix.RENAME_EXCHANGE) }
	if err := exchange(); err != nil {
		// No RENAME_EXCHANGE here: swap with two renames.
		held := filepath.Join(base, "held")
		linked := false
		exchange = func() error {
			if !linked {
				if err := os.Rename(d, held); err != nil {
					return err
				}
				linked = true
				return os.Rename(link, d)
			}
			if err := os.Rename(d, link); err != nil {
				return err
			}
			linked = false
			return os.Rename(held, d)
		}
	} else if err := exchange(); err != nil { // back to a directory
		t.Fatal(err)
	}
	var done atomic.Bool
	var swaps int
	var wg sync.WaitGroup
	wg.Go(func() {
		for !done.Load() {
			if err := exchange(); err != nil {
				t.Error(err)
				return
			}
			swaps++
			time.Sleep(50 * time.Microsecond)
		}
	})
	var once sync.Once
	stop := func() int {
		once.Do(func() {
			done.Store(true)
			wg.Wait()
			// Leave "d" a directory and the link out of the walk's way.
			if fi, err := os.Lstat(d); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				_ = exchange()
			}
		})
		return swaps
	}
	t.Cleanup(func() { stop() })
	return site, marker, stop
}

// raceOutcome checks an error of a walk raced by linkSwapSite: the walk
// either succeeded or saw the change and refused it.
func raceOutcome(t *testing.T, what string, err error, ok, refused *int) {
	t.Helper()
	switch {
	case err == nil:
		*ok++
	case errors.Is(err, sitetree.ErrChanged), errors.Is(err, fs.ErrNotExist):
		*refused++
	default:
		t.Fatalf("%s: %v", what, err)
	}
}

// A backup raced by a directory-to-symlink swap never holds a byte from
// outside the site.
func TestBackupRacedByLinkSwapHoldsNothingFromOutside(t *testing.T) {
	t.Parallel()
	site, marker, stop := linkSwapSite(t)
	out := t.TempDir()
	deadline := time.Now().Add(5 * time.Second)
	ok, refused := 0, 0
	for i := 0; i < 40 && time.Now().Before(deadline); i++ {
		path := filepath.Join(out, fmt.Sprintf("b%d.tar.zst", i))
		w, err := archive.Create(path, archive.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = w.AddTreeAndStream(context.Background(), site, archive.FilesPrefix, archive.DatabaseName, strings.NewReader("dump"))
		if err != nil {
			w.Abort()
			raceOutcome(t, "backup", err, &ok, &refused)
			continue
		}
		if _, err := w.Commit(archive.Manifest{SiteID: "s1"}); err != nil {
			t.Fatal(err)
		}
		ok++
		if b := decompressed(t, path); bytes.Contains(b, marker) {
			t.Fatalf("backup %d holds the content of a file outside the site", i)
		}
	}
	t.Logf("%d swaps; %d backups written, %d refused a change", stop(), ok, refused)
}

// A clone's copy raced by a directory-to-symlink swap never holds a byte
// from outside the site.
func TestCopyRacedByLinkSwapHoldsNothingFromOutside(t *testing.T) {
	t.Parallel()
	site, marker, stop := linkSwapSite(t)
	out := t.TempDir()
	deadline := time.Now().Add(5 * time.Second)
	ok, refused := 0, 0
	for i := 0; i < 40 && time.Now().Before(deadline); i++ {
		dst := filepath.Join(out, fmt.Sprintf("c%d", i))
		err := copyTree(context.Background(), site, dst)
		raceOutcome(t, "copy", err, &ok, &refused)
		// Read what was copied, even by a refused copy, without following
		// the links copied as links.
		werr := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			if bytes.Contains(b, marker) {
				t.Fatalf("copy %d holds %s, a file from outside the site", i, p)
			}
			return err
		})
		if werr != nil && !errors.Is(werr, fs.ErrNotExist) {
			t.Fatal(werr)
		}
	}
	t.Logf("%d swaps; %d copies made, %d refused a change", stop(), ok, refused)
}

func decompressed(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	b, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFilesHintNamesAChange(t *testing.T) {
	t.Parallel()
	changed := fmt.Errorf("site files: %w", &sitetree.ChangedError{Path: "/s/d", Reason: "x"})
	if h := filesHint(changed, "other"); !strings.Contains(h, "run the task again") {
		t.Errorf("hint for a change: %q", h)
	}
	if h := filesHint(errors.New("disk full"), "other"); h != "other" {
		t.Errorf("hint for another error: %q", h)
	}
}
