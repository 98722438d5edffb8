package provision_test

// Benchmarks of the back end on the embedded defaults (sqlite, file
// secrets, the builtin web server), and backup/restore on MariaDB too.
//
//	go test ./internal/provision -run XXX -bench . -benchtime 1x
//
// Backup/restore size: AEGIR_BENCH_FILES_MB (default 50) of site files in
// 1 MiB files and AEGIR_BENCH_DB_MB (default 10) of database, measured
// AEGIR_BENCH_ROUNDS (default 5) times per iteration, aegir and baseline
// alternately; the figures are medians. The target figures are
// 500 MB of files and a 100 MB database:
//
//	AEGIR_BENCH_FILES_MB=500 AEGIR_BENCH_DB_MB=100 go test ./internal/provision -run XXX -bench BackupRestore -benchtime 1x
//
// AEGIR_BENCH_PROFILE=1 prints every backup's and restore's task log
// lines with their time from the task's start (where the time goes).
//
// A large site (BenchmarkBackupRestoreLarge, skipped unless
// AEGIR_BENCH_LARGE=1): AEGIR_BENCH_LARGE_GB (default 5) of files in
// 200,000 files per 5 GB.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql", to fill the MariaDB site

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

// fillFiles writes mb MiB of site files (1 MiB each, half random and half
// repeated text, so they compress about 2:1 like a mix of media and text).
func fillFiles(b *testing.B, siteDir string, mb int) {
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
}

// blobRow returns a 64 KiB database row: base64 of random bytes, which
// compresses about 4:3. A MiB of database is 16 rows.
func blobRow() string {
	row := make([]byte, 48<<10)
	_, _ = rand.Read(row)
	return base64.StdEncoding.EncodeToString(row)
}

// fillSQLite writes dbMB MiB of rows into the site's sqlite database.
func fillSQLite(b *testing.B, bb *bundle, siteID string, dbMB int) {
	b.Helper()
	db, err := sql.Open("sqlite", bb.sqlitePath(siteID))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	fillBlobs(b, db, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)", dbMB)
}

// fillBlobs creates the blobs table with create and inserts dbMB×16 rows,
// 16 to a statement.
func fillBlobs(b *testing.B, db *sql.DB, create string, dbMB int) {
	b.Helper()
	if _, err := db.Exec(create); err != nil {
		b.Fatal(err)
	}
	marks := make([]string, 16)
	for k := range marks {
		marks[k] = "(?)"
		if strings.Contains(create, "SERIAL") { // PostgreSQL's placeholders
			marks[k] = fmt.Sprintf("($%d)", k+1)
		}
	}
	insert := "INSERT INTO blobs (body) VALUES " + strings.Join(marks, ",")
	args := make([]any, 16)
	for range dbMB {
		for k := range args {
			args[k] = blobRow()
		}
		if _, err := db.Exec(insert, args...); err != nil {
			b.Fatal(err)
		}
	}
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

// needBinaries skips the benchmark when a baseline's program is missing,
// or fails it under CI=true.
func needBinaries(b *testing.B, bins ...string) {
	b.Helper()
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				b.Fatalf("%s is needed for the baseline: run ops/install-deps.sh", bin)
			}
			b.Skipf("%s not installed", bin)
		}
	}
}

// BenchmarkBackupRestore measures the throughput of the backup and restore
// tasks (MB of site files plus database per second) next to a baseline run
// in the same loop on the same site, for a static site with 1 MiB files
// on sqlite, on a real MariaDB and on a real PostgreSQL.
//
// The baselines use the zstd command's default level (-3) on one thread.
// sqlite: tar of the site directory and the database file | zstd, and
// zstd -d | tar -x. mariadb: tar | zstd of the site directory, then
// mariadb-dump | zstd of the database; zstd -d | tar -x, then DROP and
// CREATE DATABASE and zstd -d | mariadb; one after the other, as a backup
// script runs them. postgresql: the same with pg_dump and psql. They
// verify nothing and sync nothing to disk; aegir's restore syncs the
// site's filesystem before it reports success, and restore_sync_ms is
// what that took (inside restore's time). The baseline restores into an
// empty directory, and so does aegir's restore in effect: it leaves the
// site directory it replaced for the task its result queues,
// remove-replaced-files, which the benchmark runs next, outside the
// restore's time (restore_cleanup_ms). baseline_rm_ms is what `rm -rf`
// of the restored tree costs (outside the baseline's time), and
// restore_x_baseline_in_place is aegir's restore and
// remove-replaced-files against the baseline with that rm: a restore in
// place, old files removed, both ways.
//
// AEGIR_BENCH_SETTLE_S (default 0; 65 for the large site) syncs and waits
// that long after the last mass removal before each timed restore, for a
// filesystem that penalises creating files right after removing many:
// ext4 without a journal (this project's CI machines) skips every inode
// freed in the last 60 s when it allocates one, reading each one's inode
// table block, and an unpack of 200,000 files after a removal of as many
// spent 70% of its CPU there (perf: recently_deleted). Without the wait,
// each side's timing paid for the other side's removals.
func BenchmarkBackupRestore(b *testing.B) {
	b.Run("sqlite", benchBackupRestoreSQLite)
	b.Run("mariadb", benchBackupRestoreMariaDB)
	b.Run("postgresql", benchBackupRestorePostgres)
}

// BenchmarkBackupRestoreLarge is BenchmarkBackupRestore on sqlite for a
// large site: AEGIR_BENCH_LARGE_GB (default 5) GB of small files, 200,000
// per 5 GB (25 KB each) in directories of 1,000, and reports the peak RSS
// of the test process (getrusage; it includes filling the site). Skipped
// unless AEGIR_BENCH_LARGE=1: filling 5 GB takes minutes.
func BenchmarkBackupRestoreLarge(b *testing.B) {
	if os.Getenv("AEGIR_BENCH_LARGE") != "1" {
		b.Skip("set AEGIR_BENCH_LARGE=1 (and AEGIR_BENCH_LARGE_GB, default 5) to run it")
	}
	needBinaries(b, "tar", "zstd")
	gb := 5.0
	if v, err := strconv.ParseFloat(os.Getenv("AEGIR_BENCH_LARGE_GB"), 64); err == nil && v > 0 {
		gb = v
	}
	bb := benchSetup(b)
	x := installBenchSite(b, bb, func(dir string) { fillSmallFiles(b, dir, int(gb*40000), 25<<10) })
	x.sqlite(b)
	x.settle = time.Duration(envInt("AEGIR_BENCH_SETTLE_S", 65)) * time.Second
	x.run(b)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak_rss_MB")
}

// fillSmallFiles writes n files of size bytes (half random, half repeated
// text, as fillFiles), 1,000 to a directory.
func fillSmallFiles(b *testing.B, siteDir string, n, size int) {
	b.Helper()
	rnd := make([]byte, size*3/8)
	text := []byte("<p>aegir benchmark page with some repeated text in it</p>\n")
	buf := make([]byte, 0, size+len(text)+base64.StdEncoding.EncodedLen(len(rnd)))
	for i := 0; i < n; i++ {
		_, _ = rand.Read(rnd)
		buf = base64.StdEncoding.AppendEncode(buf[:0], rnd)
		for len(buf) < size {
			buf = append(buf, text...)
		}
		dir := filepath.Join(siteDir, "files", strconv.Itoa(i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%06d.html", i)), buf[:size], 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBackupRestoreSQLite(b *testing.B) {
	needBinaries(b, "tar", "zstd")
	bb := benchSetup(b)
	x := installBenchSite(b, bb, nil)
	x.sqlite(b)
	x.run(b)
}

// sqlite fills the site's sqlite database and sets the baseline: tar of
// the site and the database file | zstd; zstd -d | tar -x.
func (x *backupBench) sqlite(b *testing.B) {
	bb := x.bb
	fillSQLite(b, bb, x.site.ID, envInt("AEGIR_BENCH_DB_MB", 10))
	dbFile := bb.sqlitePath(x.site.ID)
	x.dbBytes = dirSize(dbFile)
	x.baseBackup = func(dir string) {
		pipe(b, []string{"tar", "-cf", "-", "-C", x.siteDir, ".", "-C", filepath.Dir(dbFile), filepath.Base(dbFile)},
			[]string{"zstd", "-q", "-3", "-T1", "-o", filepath.Join(dir, "site.tar.zst")})
	}
	x.baseRestore = func(dir, dest string) {
		pipe(b, []string{"zstd", "-q", "-d", "-c", filepath.Join(dir, "site.tar.zst")}, []string{"tar", "-xf", "-", "-C", dest})
	}
}

func benchBackupRestoreMariaDB(b *testing.B) {
	needBinaries(b, "tar", "zstd", "mariadb-dump", "mariadb")
	bb := benchSetup(b)
	m := useDBServer(b, bb, domain.KindMariaDB).mariadb
	x := installBenchSite(b, bb, nil)
	name := provision.NameFor(x.site.ID)
	db, err := sql.Open("mysql", m.DSN(name))
	if err != nil {
		b.Fatal(err)
	}
	fillBlobs(b, db, "CREATE TABLE blobs (id INT AUTO_INCREMENT PRIMARY KEY, body MEDIUMTEXT)", envInt("AEGIR_BENCH_DB_MB", 10))
	db.Close()

	// The baseline connects as the admin user with a defaults file, as
	// the driver does, and loads into a database of its own.
	cnf := filepath.Join(b.TempDir(), "admin.cnf")
	host, port, _ := net.SplitHostPort(m.Addr)
	if err := os.WriteFile(cnf, fmt.Appendf(nil, "[client]\nuser=%q\npassword=%q\nprotocol=TCP\nhost=%s\nport=%s\n",
		m.AdminUser, m.AdminPassword, host, port), 0o600); err != nil {
		b.Fatal(err)
	}
	const baseDB = "bench_baseline"
	dump := []string{"mariadb-dump", "--defaults-file=" + cnf, "--single-transaction", "--quick", name}
	// Size the database as its dump, and warm the server's caches so the
	// first backup does not pay for them.
	var probe countWriter
	cmd := exec.Command(dump[0], dump[1:]...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &probe, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%v: %v: %s", dump, err, stderr.String())
	}
	x.dbBytes = probe.n
	x.baseBackup = func(dir string) {
		pipe(b, []string{"tar", "-cf", "-", "-C", x.siteDir, "."},
			[]string{"zstd", "-q", "-3", "-T1", "-o", filepath.Join(dir, "files.tar.zst")})
		pipe(b, dump, []string{"zstd", "-q", "-3", "-T1", "-o", filepath.Join(dir, "database.sql.zst")})
	}
	x.baseRestore = func(dir, dest string) {
		pipe(b, []string{"zstd", "-q", "-d", "-c", filepath.Join(dir, "files.tar.zst")}, []string{"tar", "-xf", "-", "-C", dest})
		run(b, "mariadb", "--defaults-file="+cnf, "--execute=DROP DATABASE IF EXISTS "+baseDB+"; CREATE DATABASE "+baseDB)
		pipe(b, []string{"zstd", "-q", "-d", "-c", filepath.Join(dir, "database.sql.zst")},
			[]string{"mariadb", "--defaults-file=" + cnf, "--database=" + baseDB})
	}
	x.run(b)
}

func benchBackupRestorePostgres(b *testing.B) {
	needBinaries(b, "tar", "zstd", "pg_dump", "psql")
	bb := benchSetup(b)
	srv := useDBServer(b, bb, domain.KindPostgreSQL)
	p := srv.postgres
	x := installBenchSite(b, bb, nil)
	name := provision.NameFor(x.site.ID)
	fillBlobs(b, srv.open(name), "CREATE TABLE blobs (id SERIAL PRIMARY KEY, body TEXT)", envInt("AEGIR_BENCH_DB_MB", 10))

	// The baseline connects as the admin with the password in the
	// environment, as the driver does, and loads into a database of its own.
	host, port, _ := net.SplitHostPort(p.Addr)
	env := []string{"PGHOST=" + host, "PGPORT=" + port, "PGUSER=" + p.AdminUser, "PGPASSWORD=" + p.AdminPassword, "PGSSLMODE=disable"}
	const baseDB = "bench_baseline"
	dump := []string{"pg_dump", "--format=plain", "--no-owner", "--no-privileges", "--dbname=" + name}
	var probe countWriter
	cmd := exec.Command(dump[0], dump[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &probe, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%v: %v: %s", dump, err, stderr.String())
	}
	x.dbBytes = probe.n
	x.baseBackup = func(dir string) {
		pipe(b, []string{"tar", "-cf", "-", "-C", x.siteDir, "."},
			[]string{"zstd", "-q", "-3", "-T1", "-o", filepath.Join(dir, "files.tar.zst")})
		pipeEnv(b, env, dump, []string{"zstd", "-q", "-3", "-T1", "-o", filepath.Join(dir, "database.sql.zst")})
	}
	x.baseRestore = func(dir, dest string) {
		pipe(b, []string{"zstd", "-q", "-d", "-c", filepath.Join(dir, "files.tar.zst")}, []string{"tar", "-xf", "-", "-C", dest})
		pipeEnv(b, env, []string{"psql", "--no-psqlrc", "--quiet", "--dbname=postgres", "--command=DROP DATABASE IF EXISTS " + baseDB},
			[]string{"cat"})
		pipeEnv(b, env, []string{"psql", "--no-psqlrc", "--quiet", "--dbname=postgres", "--command=CREATE DATABASE " + baseDB},
			[]string{"cat"})
		pipeEnv(b, env, []string{"zstd", "-q", "-d", "-c", filepath.Join(dir, "database.sql.zst")},
			[]string{"psql", "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1", "--dbname=" + baseDB, "--file=-"})
	}
	x.run(b)
}

// backupBench is one site to back up and restore, and its baseline.
type backupBench struct {
	bb      *bundle
	site    *provision.SiteInfo
	siteDir string
	dbBytes int64
	// baseBackup writes the baseline's archives into dir; baseRestore
	// restores them from dir, the files into dest.
	baseBackup  func(dir string)
	baseRestore func(dir, dest string)
	// settle is how long after the last mass removal each timed restore
	// waits (AEGIR_BENCH_SETTLE_S; see BenchmarkBackupRestore).
	settle time.Duration
}

// installBenchSite installs a static site and fills it with fill, or by
// default AEGIR_BENCH_FILES_MB of 1 MiB files.
func installBenchSite(b *testing.B, bb *bundle, fill func(siteDir string)) *backupBench {
	b.Helper()
	site := bb.newSite("big.example.com")
	if res := bb.runner.Run(context.Background(), bb.ctx(domain.TaskInstall, site, "static1")); res.Status != domain.TaskSucceeded {
		b.Fatalf("install: %s: %s", res.ErrorCode, res.Explanation)
	}
	site.Status = domain.SiteEnabled
	x := &backupBench{bb: bb, site: site, siteDir: filepath.Join(bb.platform["static1"].Path, "sites", site.Domain),
		settle: time.Duration(envInt("AEGIR_BENCH_SETTLE_S", 0)) * time.Second}
	if fill == nil {
		fill = func(dir string) { fillFiles(b, dir, envInt("AEGIR_BENCH_FILES_MB", 50)) }
	}
	fill(x.siteDir)
	return x
}

// run backs up and restores the site through the Runner, and runs the
// baseline, AEGIR_BENCH_ROUNDS times per iteration, alternating which goes
// first, and reports the medians.
func (x *backupBench) run(b *testing.B) {
	bb := x.bb
	syncs := &syncCatcher{profile: os.Getenv("AEGIR_BENCH_PROFILE") == "1"}
	bb.runner.Log = slog.New(syncs)
	filesBytes := dirSize(x.siteDir)
	total := float64(filesBytes+x.dbBytes) / 1e6
	b.Logf("site: %.1f MB (files %.1f MB, database %.1f MB)", total, float64(filesBytes)/1e6, float64(x.dbBytes)/1e6)
	work := b.TempDir()
	var backup, restore, baseBackup, baseRestore samples
	var syncMS, rmMS, inPlace, cleanupMS []float64
	// removed is when the last mass removal ended (aegir's restore
	// removes the old tree; the baseline's rm the restored one).
	removed := time.Now()
	settle := func() {
		if x.settle <= 0 {
			return
		}
		run(b, "sync")
		time.Sleep(time.Until(removed.Add(x.settle)))
	}
	var archiveSize, baseSize int64
	aegir := func() {
		var t timer
		syncs.mark()
		t.start()
		res := bb.runner.Run(context.Background(), bb.ctx(domain.TaskBackup, x.site, "static1"))
		t.stop()
		if res.Status != domain.TaskSucceeded {
			b.Fatalf("backup: %s: %s", res.ErrorCode, res.Explanation)
		}
		backup.add(t)
		bk := res.Changes.Backups[0]
		archiveSize = bk.Size

		rc := bb.ctx(domain.TaskRestore, x.site, "static1")
		rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
		syncs.ms.Store(0)
		settle()
		t = timer{}
		syncs.mark()
		t.start()
		res = bb.runner.Run(context.Background(), rc)
		t.stop()
		if res.Status != domain.TaskSucceeded {
			b.Fatalf("restore: %s: %s", res.ErrorCode, res.Explanation)
		}
		restore.add(t)
		syncMS = append(syncMS, float64(syncs.ms.Load()))
		// The old files go in the task the restore's result queues
		// (remove-replaced-files), next, outside the restore's time.
		var cleanMS float64
		if res.Changes.ReplacedFiles {
			xc := bb.ctx(domain.TaskRemoveReplacedFiles, x.site, "static1")
			xc.Task.Args = map[string]string{"task_id": rc.Task.ID}
			t0 := time.Now()
			if res := bb.runner.Run(context.Background(), xc); res.Status != domain.TaskSucceeded {
				b.Fatalf("remove-replaced-files: %s: %s", res.ErrorCode, res.Explanation)
			}
			cleanMS = float64(time.Since(t0).Milliseconds())
		}
		cleanupMS = append(cleanupMS, cleanMS)
		removed = time.Now()
		_ = os.RemoveAll(filepath.Join(bb.dataDir, "backups"))
	}
	base := func() {
		dir, dest := filepath.Join(work, "archives"), filepath.Join(work, "restored")
		for _, d := range []string{dir, dest} {
			if err := os.Mkdir(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		var t timer
		t.start()
		x.baseBackup(dir)
		t.stop()
		baseBackup.add(t)
		baseSize = dirSize(dir)
		settle()
		t = timer{}
		t.start()
		x.baseRestore(dir, dest)
		t.stop()
		baseRestore.add(t)
		// What removing the restored tree costs the bare tools: a restore
		// in place removes the old site, which extracting into an empty
		// directory does not (aegir's restore time includes it).
		t0 := time.Now()
		run(b, "rm", "-rf", dest)
		removed = time.Now()
		rmMS = append(rmMS, float64(time.Since(t0).Milliseconds()))
		inPlace = append(inPlace, t.wall.Seconds()+removed.Sub(t0).Seconds())
		_ = os.RemoveAll(dir)
	}
	rounds := envInt("AEGIR_BENCH_ROUNDS", 5)
	b.ResetTimer()
	for b.Loop() {
		for r := range rounds {
			if r%2 == 0 {
				aegir()
				base()
			} else {
				base()
				aegir()
			}
			if syncs.profile { // each round's times: the medians hide how far they spread
				n := len(restore.walls) - 1
				fmt.Fprintf(os.Stderr, "round %d: backup %.1f s, baseline %.1f s; restore %.1f s (CPU %.1f s; then remove-replaced-files %.1f s), baseline %.1f s (CPU %.1f s, rm -rf %.1f s)\n",
					r+1, backup.walls[n], baseBackup.walls[n], restore.walls[n], restore.cpus[n], cleanupMS[n]/1000, baseRestore.walls[n], baseRestore.cpus[n], rmMS[n]/1000)
			}
		}
	}
	bw, rw, bbw, brw := backup.wall(), restore.wall(), baseBackup.wall(), baseRestore.wall()
	b.ReportMetric(total/bw, "backup_MB/s")
	b.ReportMetric(total/rw, "restore_MB/s")
	b.ReportMetric(total/bbw, "baseline_backup_MB/s")
	b.ReportMetric(total/brw, "baseline_restore_MB/s")
	b.ReportMetric(bbw/bw, "backup_x_baseline")
	b.ReportMetric(brw/rw, "restore_x_baseline")
	b.ReportMetric(median(syncMS), "restore_sync_ms")
	b.ReportMetric(median(rmMS), "baseline_rm_ms")
	b.ReportMetric(median(cleanupMS), "restore_cleanup_ms")
	b.ReportMetric(median(inPlace)/(rw+median(cleanupMS)/1000), "restore_x_baseline_in_place")
	// CPU time is steadier than wall time on a shared machine. It counts
	// this process and the programs it ran (dump, client, tar, zstd), not
	// the database server.
	b.ReportMetric(backup.cpuMS(), "backup_cpu_ms")
	b.ReportMetric(restore.cpuMS(), "restore_cpu_ms")
	b.ReportMetric(baseBackup.cpuMS(), "baseline_backup_cpu_ms")
	b.ReportMetric(baseRestore.cpuMS(), "baseline_restore_cpu_ms")
	b.ReportMetric(float64(archiveSize)/1e6, "archive_MB")
	b.ReportMetric(float64(baseSize)/1e6, "baseline_archive_MB")
	b.ReportMetric(float64(len(backup.walls)), "rounds")
	b.ReportMetric(0, "ns/op")
}

// samples are the wall and CPU times of one kind of run.
type samples struct{ walls, cpus []float64 }

func (s *samples) add(t timer) {
	s.walls = append(s.walls, t.wall.Seconds())
	s.cpus = append(s.cpus, t.cpu.Seconds())
}

// wall is the median wall time in seconds; cpuMS the median CPU time in ms.
func (s *samples) wall() float64  { return median(s.walls) }
func (s *samples) cpuMS() float64 { return median(s.cpus) * 1000 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// syncCatcher is a log handler that drops every line but keeps the
// duration of the last "synced to disk" (the restore's syncfs). With
// AEGIR_BENCH_PROFILE=1 it prints each line to stderr first, as "+ms
// message attrs" from the start of its task: where a backup's or a
// restore's time goes.
type syncCatcher struct {
	ms      atomic.Int64
	profile bool
	t0      atomic.Int64 // UnixNano of the task's start
}

func (c *syncCatcher) mark() { c.t0.Store(time.Now().UnixNano()) }

func (c *syncCatcher) Enabled(context.Context, slog.Level) bool { return true }
func (c *syncCatcher) Handle(_ context.Context, r slog.Record) error {
	if c.profile {
		var line strings.Builder
		fmt.Fprintf(&line, "%+6dms %s", (r.Time.UnixNano()-c.t0.Load())/1e6, r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&line, " %s=%v", a.Key, a.Value)
			return true
		})
		fmt.Fprintln(os.Stderr, line.String())
	}
	if r.Message == "synced to disk" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "ms" {
				c.ms.Store(a.Value.Int64())
			}
			return true
		})
	}
	return nil
}
func (c *syncCatcher) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *syncCatcher) WithGroup(string) slog.Handler      { return c }

// timer adds up the wall time and the CPU time (user and system, of this
// process and of the children it waited for) between start and stop.
type timer struct {
	wall, cpu time.Duration
	t0        time.Time
	c0        time.Duration
}

func (t *timer) start() { t.t0, t.c0 = time.Now(), cpuTime() }

func (t *timer) stop() { t.wall += time.Since(t.t0); t.cpu += cpuTime() - t.c0 }

func cpuTime() time.Duration {
	var d time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		_ = syscall.Getrusage(who, &ru)
		d += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return d
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// pipe runs left | right without a shell.
func pipe(b *testing.B, left, right []string) {
	b.Helper()
	l := exec.Command(left[0], left[1:]...)
	r := exec.Command(right[0], right[1:]...)
	var lerr, rerr strings.Builder
	l.Stderr, r.Stderr = &lerr, &rerr
	out, err := l.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	r.Stdin = out
	if err := r.Start(); err != nil {
		b.Fatal(err)
	}
	if err := l.Run(); err != nil {
		_ = r.Wait()
		b.Fatalf("%v: %v: %s", left, err, lerr.String())
	}
	if err := r.Wait(); err != nil {
		b.Fatalf("%v: %v: %s", right, err, rerr.String())
	}
}

// pipeEnv is pipe with env added to both commands' environment.
func pipeEnv(b *testing.B, env, left, right []string) {
	b.Helper()
	l := exec.Command(left[0], left[1:]...)
	r := exec.Command(right[0], right[1:]...)
	l.Env = append(os.Environ(), env...)
	r.Env = l.Env
	var lerr, rerr strings.Builder
	l.Stderr, r.Stderr = &lerr, &rerr
	out, err := l.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	r.Stdin = out
	r.Stdout = io.Discard
	if err := r.Start(); err != nil {
		b.Fatal(err)
	}
	if err := l.Run(); err != nil {
		_ = r.Wait()
		b.Fatalf("%v: %v: %s", left, err, lerr.String())
	}
	if err := r.Wait(); err != nil {
		b.Fatalf("%v: %v: %s", right, err, rerr.String())
	}
}

// run runs one command without a shell.
func run(b *testing.B, argv ...string) {
	b.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		b.Fatalf("%v: %v: %s", argv, err, out)
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
