package provision_test

// Benchmarks of the back end on the embedded defaults (sqlite, file
// secrets, the in-test web server until the builtin driver lands).
//
//	go test ./internal/provision -run XXX -bench . -benchtime 1x
//
// Backup/restore size: AEGIR_BENCH_FILES_MB (default 50) of site files in
// 1 MiB files and AEGIR_BENCH_DB_MB (default 10) of database. The issue's
// target figures are 500 MB of files and a 100 MB database:
//
//	AEGIR_BENCH_FILES_MB=500 AEGIR_BENCH_DB_MB=100 go test ./internal/provision -run XXX -bench BackupRestore -benchtime 1x

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

func benchSetup(b *testing.B) *bundle {
	b.Helper()
	bb := setup(b)
	bb.runner.Log = slog.New(slog.DiscardHandler) // keep log formatting out of the figures
	return bb
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkInstall measures the latency of installing one static site on
// sqlite, end to end through the Runner (site dir, copy, database, secret,
// web publish, answer check).
func BenchmarkInstall(b *testing.B) {
	bb := benchSetup(b)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		site := bb.newSite(fmt.Sprintf("s%d.example.com", i))
		res := bb.runner.Run(context.Background(), bb.ctx(domain.TaskInstall, site, "static1"))
		if res.Status != domain.TaskSucceeded {
			b.Fatalf("%s: %s", res.ErrorCode, res.Explanation)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/install")
}

// fill writes mb MiB of site files (1 MiB each, half random and half
// repeated text, so they compress about 2:1 like a mix of media and text)
// and a database of dbMB MiB.
func fill(b *testing.B, bb *bundle, siteDir, siteID string, mb, dbMB int) {
	b.Helper()
	rnd := make([]byte, 384<<10)
	text := []byte("<p>aegir benchmark page with some repeated text in it</p>\n")
	for i := 0; i < mb; i++ {
		_, _ = rand.Read(rnd)
		buf := make([]byte, 0, 1<<20)
		buf = base64.StdEncoding.AppendEncode(buf, rnd)
		for len(buf) < 1<<20 {
			buf = append(buf, text...)
		}
		dir := filepath.Join(siteDir, "files", strconv.Itoa(i%16))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.bin", i)), buf[:1<<20], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	stmts := []string{"CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)"}
	row := make([]byte, 48<<10)
	for i := 0; i < dbMB*16; i++ { // 16 rows of 64 KiB per MiB
		_, _ = rand.Read(row)
		stmts = append(stmts, fmt.Sprintf("INSERT INTO blobs (body) VALUES ('%s')", base64.StdEncoding.EncodeToString(row)))
	}
	bb.exec(siteID, stmts...)
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// BenchmarkBackupRestore measures backup and restore throughput (MB of
// site files + database per second) next to the baseline in the same
// run: tar piped to zstd -3 (the zstd command's default level, one
// thread) to back up, and zstd -d piped to tar to restore.
func BenchmarkBackupRestore(b *testing.B) {
	for _, bin := range []string{"tar", "zstd"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				b.Fatalf("%s is needed for the baseline: run ops/install-deps.sh", bin)
			}
			b.Skipf("%s not installed", bin)
		}
	}
	bb := benchSetup(b)
	site := bb.newSite("big.example.com")
	if res := bb.runner.Run(context.Background(), bb.ctx(domain.TaskInstall, site, "static1")); res.Status != domain.TaskSucceeded {
		b.Fatalf("install: %s", res.Explanation)
	}
	site.Status = domain.SiteEnabled
	siteDir := filepath.Join(bb.platform["static1"].Path, "sites", site.Domain)
	fill(b, bb, siteDir, site.ID, envInt("AEGIR_BENCH_FILES_MB", 50), envInt("AEGIR_BENCH_DB_MB", 10))
	dbFile := bb.sqlitePath(site.ID)
	total := float64(dirSize(siteDir)+dirSize(dbFile)) / 1e6
	b.Logf("site: %.1f MB (files %.1f MB, database %.1f MB)", total, float64(dirSize(siteDir))/1e6, float64(dirSize(dbFile))/1e6)

	var backup, restore, baseBackup, baseRestore time.Duration
	var archiveSize, baseSize int64
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		res := bb.runner.Run(context.Background(), bb.ctx(domain.TaskBackup, site, "static1"))
		backup += time.Since(start)
		if res.Status != domain.TaskSucceeded {
			b.Fatalf("backup: %s", res.Explanation)
		}
		bk := res.Changes.Backups[0]
		archiveSize = bk.Size

		rc := bb.ctx(domain.TaskRestore, site, "static1")
		rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
		start = time.Now()
		res = bb.runner.Run(context.Background(), rc)
		restore += time.Since(start)
		if res.Status != domain.TaskSucceeded {
			b.Fatalf("restore: %s", res.Explanation)
		}
		// The restore takes a safety backup; drop the archives between rounds.
		_ = os.RemoveAll(filepath.Join(bb.dataDir, "backups"))

		out := filepath.Join(b.TempDir(), "baseline.tar.zst")
		start = time.Now()
		pipe(b, []string{"tar", "-cf", "-", "-C", siteDir, ".", "-C", filepath.Dir(dbFile), filepath.Base(dbFile)},
			[]string{"zstd", "-q", "-3", "-T1", "-o", out})
		baseBackup += time.Since(start)
		fi, _ := os.Stat(out)
		baseSize = fi.Size()
		dest := filepath.Join(b.TempDir(), "restored")
		_ = os.Mkdir(dest, 0o755)
		start = time.Now()
		pipe(b, []string{"zstd", "-q", "-d", "-c", out}, []string{"tar", "-xf", "-", "-C", dest})
		baseRestore += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(total/(backup.Seconds()/n), "backup_MB/s")
	b.ReportMetric(total/(restore.Seconds()/n), "restore_MB/s")
	b.ReportMetric(total/(baseBackup.Seconds()/n), "baseline_backup_MB/s")
	b.ReportMetric(total/(baseRestore.Seconds()/n), "baseline_restore_MB/s")
	b.ReportMetric(float64(archiveSize)/1e6, "archive_MB")
	b.ReportMetric(float64(baseSize)/1e6, "baseline_archive_MB")
	b.ReportMetric(0, "ns/op")
}

// pipe runs a | b without a shell.
func pipe(b *testing.B, left, right []string) {
	b.Helper()
	l := exec.Command(left[0], left[1:]...)
	r := exec.Command(right[0], right[1:]...)
	out, err := l.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	r.Stdin = out
	if err := r.Start(); err != nil {
		b.Fatal(err)
	}
	if err := l.Run(); err != nil {
		b.Fatalf("%v: %v", left, err)
	}
	if err := r.Wait(); err != nil {
		b.Fatalf("%v: %v", right, err)
	}
}

// BenchmarkConcurrentInstalls installs 100 sites at once (AEGIR_BENCH_SITES)
// and reports the total time and the peak memory: the Go heap sampled every
// 5 ms, and the process's maximum resident set size (getrusage; it covers
// the whole test binary, so it is an upper bound).
func BenchmarkConcurrentInstalls(b *testing.B) {
	n := envInt("AEGIR_BENCH_SITES", 100)
	var total time.Duration
	var peakHeap uint64
	for i := 0; b.Loop(); i++ {
		bb := benchSetup(b)
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				peakHeap = max(peakHeap, ms.HeapInuse)
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for k := 0; k < n; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				site := bb.newSite(fmt.Sprintf("c%d-%d.example.com", i, k))
				res := bb.runner.Run(context.Background(), bb.ctx(domain.TaskInstall, site, "static1"))
				if res.Status != domain.TaskSucceeded {
					errs <- res.ErrorCode + ": " + res.Explanation
				}
			}()
		}
		wg.Wait()
		total += time.Since(start)
		close(stop)
		sampler.Wait()
		close(errs)
		for e := range errs {
			b.Fatal(e)
		}
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(total.Seconds()/float64(b.N), "total_s")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak_heap_MiB")
	b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss_MiB")
	b.ReportMetric(float64(n), "sites")
	b.ReportMetric(0, "ns/op")
}
