package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProgress checks that a Progress ends at exactly the bytes of files,
// database and archive that were written and read back, by the writer
// (files and stream together or apart) and by each reader.
func TestProgress(t *testing.T) {
	t.Parallel()
	for _, together := range []bool{false, true} {
		src := t.TempDir()
		tree(t, src, map[string]string{
			"public/index.html": "<h1>marker</h1>",
			"files/big.bin":     strings.Repeat("x", 3<<20), // several 1 MiB buffers
			"files/empty/":      "",
		})
		if err := os.Symlink("../public/index.html", filepath.Join(src, "files", "link.html")); err != nil {
			t.Fatal(err)
		}
		const filesBytes = int64(len("<h1>marker</h1>") + 3<<20) // a symlink has no content
		db := bytes.Repeat([]byte("INSERT INTO t VALUES(1);\n"), 4000)

		var wp Progress
		info := writeWith(t, src, db, Options{ChunkSize: 16 << 10, Progress: &wp}, together)
		if got := [3]int64{wp.Files.Load(), wp.Database.Load(), wp.Archive.Load()}; got != [3]int64{filesBytes, int64(len(db)), info.Size} {
			t.Errorf("together=%v: writing counted files, database, archive = %v, want %d, %d, %d", together, got, filesBytes, len(db), info.Size)
		}

		var ep Progress
		if _, err := Extract(context.Background(), info.Path, filepath.Join(t.TempDir(), "out"), info.SHA256, &ep); err != nil {
			t.Fatal(err)
		}
		if got := [3]int64{ep.Files.Load(), ep.Database.Load(), ep.Archive.Load()}; got != [3]int64{filesBytes, int64(len(db)), info.Size} {
			t.Errorf("together=%v: extracting counted files, database, archive = %v, want %d, %d, %d", together, got, filesBytes, len(db), info.Size)
		}

		var rp Progress
		if _, err := ReadDatabase(context.Background(), info.Path, info.SHA256, io.Discard, &rp); err != nil {
			t.Fatal(err)
		}
		if got := [3]int64{rp.Files.Load(), rp.Database.Load(), rp.Archive.Load()}; got != [3]int64{0, int64(len(db)), info.Size} {
			t.Errorf("together=%v: reading the database counted files, database, archive = %v, want 0, %d, %d", together, got, len(db), info.Size)
		}

		var vp Progress
		if _, err := Verify(context.Background(), info.Path, info.SHA256, &vp); err != nil {
			t.Fatal(err)
		}
		if got := vp.Archive.Load(); got != info.Size {
			t.Errorf("together=%v: verifying counted %d archive bytes, want %d", together, got, info.Size)
		}
	}
}

// BenchmarkProgress measures what counting progress costs on the hot path:
// each round writes and extracts the same 16 MiB tree (1 MiB files, half
// random) and a 3 MB stream with and without a Progress, in turn (each
// first every other round), and reports the CPU time of each (steadier
// than wall time on a shared machine) and their ratio (1 = free).
//
//	go test ./internal/provision/archive -run XXX -bench Progress -benchtime 20x
func BenchmarkProgress(b *testing.B) {
	src := b.TempDir()
	buf := make([]byte, 1<<20)
	for i := range 16 {
		_, _ = rand.Read(buf[:len(buf)/2])
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d.bin", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	db := bytes.Repeat([]byte("INSERT INTO t VALUES('aegir');\n"), 100000)
	ctx := context.Background()
	var write, extract [2]time.Duration // CPU time without, with
	for i := 0; b.Loop(); i++ {
		for j := range 2 {
			k := (i + j) % 2 // which goes first alternates
			var p *Progress
			if k == 1 {
				p = &Progress{}
			}
			dir := b.TempDir()
			c0 := cpuTime()
			w, err := Create(filepath.Join(dir, "a.tar.zst"), Options{Progress: p})
			if err != nil {
				b.Fatal(err)
			}
			if err := w.AddTreeAndStream(ctx, src, FilesPrefix, DatabaseName, bytes.NewReader(db)); err != nil {
				b.Fatal(err)
			}
			info, err := w.Commit(Manifest{SiteID: "s1"})
			if err != nil {
				b.Fatal(err)
			}
			c1 := cpuTime()
			if _, err := Extract(ctx, info.Path, filepath.Join(dir, "out"), info.SHA256, p); err != nil {
				b.Fatal(err)
			}
			write[k] += c1 - c0
			extract[k] += cpuTime() - c1
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(write[0].Microseconds())/1000/n, "write_cpu_ms")
	b.ReportMetric(float64(write[1].Microseconds())/1000/n, "write_progress_cpu_ms")
	b.ReportMetric(float64(extract[0].Microseconds())/1000/n, "extract_cpu_ms")
	b.ReportMetric(float64(extract[1].Microseconds())/1000/n, "extract_progress_cpu_ms")
	b.ReportMetric(write[1].Seconds()/write[0].Seconds(), "write_progress_x")
	b.ReportMetric(extract[1].Seconds()/extract[0].Seconds(), "extract_progress_x")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the user and system time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
