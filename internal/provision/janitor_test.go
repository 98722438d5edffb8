package provision_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbsqlite"
	"github.com/aegirhq/aegir/secrets"
)

// childContextEnv names the context file of a back end run by the test
// binary re-executed as `aegir provision run --context FILE`.
const childContextEnv = "AEGIR_TEST_PROVISION_CONTEXT"

// TestMain doubles as the real back end (provision.Main) for the tests
// that kill one mid-task. Its database dumps and loads never end, so a
// backup (or a restore's load, or a clone's database copy) is caught with
// its temporaries on disk.
func TestMain(m *testing.M) {
	if path := os.Getenv(childContextEnv); path != "" {
		deps := provision.Deps{
			Web: map[domain.ServiceKind]provision.WebFactory{domain.KindBuiltin: builtinweb.NewDriverFactory},
			DB: map[domain.ServiceKind]provision.DBFactory{domain.KindSQLite: func(svc provision.ServiceInfo, srv provision.ServerInfo, admin map[string]string, env provision.EnvInfo, log *slog.Logger) (provision.DBDriver, error) {
				d, err := dbsqlite.New(svc, srv, admin, env, log)
				return endlessDumps{d}, err
			}},
			OpenSecrets: func(env provision.EnvInfo) (secrets.Store, error) {
				return secrets.OpenFile(filepath.Join(env.DataDir, "secrets"))
			},
			Version: "test",
		}
		os.Exit(provision.Main(context.Background(), []string{"run", "--context", path}, os.Stdin, os.Stdout, os.Stderr, deps))
	}
	os.Exit(m.Run())
}

type endlessDumps struct{ provision.DBDriver }

func (endlessDumps) Dump(ctx context.Context, _ provision.DBCreds, _ io.Writer) error {
	<-ctx.Done()
	return ctx.Err()
}

// Load never ends either, so a restore is caught with its database set
// aside and its archive staged.
func (endlessDumps) Load(ctx context.Context, _ provision.DBCreds, _ io.Reader) error {
	<-ctx.Done()
	return ctx.Err()
}

func (e endlessDumps) SetAside(ctx context.Context, db provision.DBCreds, key string) error {
	return e.DBDriver.(provision.DBSetAside).SetAside(ctx, db, key)
}

func (e endlessDumps) PutBack(ctx context.Context, db provision.DBCreds, key string) error {
	return e.DBDriver.(provision.DBSetAside).PutBack(ctx, db, key)
}

func (e endlessDumps) DropAside(ctx context.Context, db provision.DBCreds, key string) error {
	return e.DBDriver.(provision.DBSetAside).DropAside(ctx, db, key)
}

// killMidTask runs c in a child back end, waits until ready says it is
// mid-task, and kills it with SIGKILL.
func (b *bundle) killMidTask(c *provision.Context, ready func() bool) {
	t := b.t
	t.Helper()
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "context.json")
	if err := os.WriteFile(path, js, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childContextEnv+"="+path)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("%s ended before it was killed (%v):\n%s", c.Task.Type, err, out.String())
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("%s never reached the point to kill it at:\n%s", c.Task.Type, out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
}

// glob returns the paths matching pattern.
func glob(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func touch(t testing.TB, path string, mtime time.Time, dir bool) {
	t.Helper()
	var err error
	if dir {
		err = os.MkdirAll(filepath.Join(path, "files"), 0o755)
	} else {
		err = os.WriteFile(path, []byte("partial"), 0o600)
	}
	if err == nil {
		err = os.Chtimes(path, mtime, mtime)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestJanitorAfterKill kills real back ends (the test binary as `aegir
// provision run`) with SIGKILL during a backup, a restore and a clone,
// and checks that the next task on the server removes what they left,
// and keeps what a live task (or one too new to judge) is using.
func TestJanitorAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs back ends as child processes")
	}
	t.Parallel()
	b := setup(t)
	site := b.installed("kill.example.com", "static1")
	bk := b.mustRun(b.ctx(domain.TaskBackup, site, "static1")).Changes.Backups[0]
	backupDir := filepath.Join(b.dataDir, "backups", site.Domain)
	sites1 := filepath.Join(b.platform["static1"].Path, "sites")
	sites2 := filepath.Join(b.platform["static2"].Path, "sites")

	// A backup killed while it writes its archive.
	bc := b.ctx(domain.TaskBackup, site, "static1")
	b.killMidTask(bc, func() bool { return len(glob(t, filepath.Join(backupDir, "*.tmp-"+bc.Task.ID+"-*"))) == 1 })

	// A restore killed while its archive is staged, its database set
	// aside (sqlite: a second link of the file, the database in place).
	rc := b.ctx(domain.TaskRestore, site, "static1")
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	staging := filepath.Join(sites1, ".aegir-staging-"+rc.Task.ID)
	held := filepath.Join(filepath.Dir(b.sqlitePath(site.ID)), ".*.aside-"+rc.Task.ID+".db")
	b.killMidTask(rc, func() bool { return exists(staging) && len(glob(t, held)) == 1 })

	// A clone killed while it copies the database, its files copied and
	// its database created.
	cc := b.ctx(domain.TaskClone, site, "static1")
	b.target(cc, "copy.example.com", "static2")
	cloneDir := filepath.Join(sites2, "copy.example.com")
	cloneDB := filepath.Join(b.dataDir, "*", provision.NameFor(cc.Target.SiteID)+".db")
	b.killMidTask(cc, func() bool {
		return exists(filepath.Join(cloneDir, "public", "index.html")) && len(glob(t, cloneDB)) == 1
	})
	if !exists(filepath.Join(sites2, ".aegir-partial-"+cc.Task.ID)) {
		t.Fatal("the clone left no marker for its unfinished site directory")
	}
	// Import does not take the unfinished clone for a site.
	if res := b.run(b.platformCtx(domain.TaskImport, "static2")); res.Status != domain.TaskSucceeded || len(res.Changes.NewSites) != 0 {
		t.Errorf("import on the platform of an unfinished clone: %s %+v", res.Status, res.Changes.NewSites)
	}

	// What a live task is using, what a task newer than the live list
	// made, and an owner-less temp file of an older aegir (old: removed;
	// recent: kept).
	long := time.Now().Add(-time.Hour)
	live, newer := domain.NewID(), domain.NewID()
	touch(t, filepath.Join(sites1, ".aegir-staging-"+live), long, true)
	touch(t, filepath.Join(backupDir, "x.tar.zst.tmp-"+live+"-00aa00aa00aa"), long, false)
	touch(t, filepath.Join(sites1, ".aegir-staging-"+newer), time.Now().Add(time.Hour), true)
	touch(t, filepath.Join(backupDir, "legacy.tar.zst.tmp-00aa00aa00aa"), time.Now().Add(-48*time.Hour), false)
	touch(t, filepath.Join(backupDir, "recent.tar.zst.tmp-00bb00bb00bb"), long, false)
	kept := []string{
		filepath.Join(sites1, ".aegir-staging-"+live),
		filepath.Join(backupDir, "x.tar.zst.tmp-"+live+"-00aa00aa00aa"),
		filepath.Join(sites1, ".aegir-staging-"+newer),
		filepath.Join(backupDir, "recent.tar.zst.tmp-00bb00bb00bb"),
	}
	dead := []string{
		filepath.Join(backupDir, "*.tmp-"+bc.Task.ID+"-*"),
		staging,
		cloneDir,
		filepath.Join(sites2, ".aegir-partial-"+cc.Task.ID),
		filepath.Join(backupDir, "legacy.tar.zst.tmp-00aa00aa00aa"),
	}
	dead = append(dead, cloneDB)
	for _, p := range append(dead, kept...) {
		if len(glob(t, p)) != 1 {
			t.Fatalf("%s: not there before the janitor", p)
		}
	}

	// The same clone asked again: the janitor runs first (it is told the
	// live tasks), so the dead clone's directory no longer blocks it.
	b.runner.JanitorInterval, b.runner.ClockSkew = -1, -1
	again := b.ctx(domain.TaskClone, site, "static1")
	b.target(again, "copy.example.com", "static2")
	again.Live = &provision.LiveTasks{AsOf: time.Now(), IDs: []string{live, newer}}
	res := b.run(again)
	if res.Status != domain.TaskSucceeded {
		t.Fatalf("clone after the janitor: %s: %s", res.ErrorCode, res.Explanation)
	}
	for _, p := range dead {
		if p != cloneDir && len(glob(t, p)) != 0 { // the new clone made its own copy.example.com
			t.Errorf("%s: left by a dead task, not removed", p)
		}
	}
	if exists(filepath.Join(sites2, ".aegir-partial-"+cc.Task.ID)) || exists(filepath.Join(sites2, ".aegir-partial-"+again.Task.ID)) {
		t.Error("a partial-site marker is left")
	}
	if dbs := glob(t, cloneDB); len(dbs) != 0 {
		t.Errorf("the dead clone's database is left: %v", dbs)
	}
	if st, err := secrets.OpenFile(filepath.Join(b.dataDir, "secrets")); err != nil {
		t.Fatal(err)
	} else if _, err := st.Get(context.Background(), secrets.SiteDBRef(cc.Target.SiteID)); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("the dead clone's stored password: %v, want not found", err)
	}
	if exists(filepath.Join(backupDir, "legacy.tar.zst.tmp-00aa00aa00aa")) {
		t.Error("an owner-less temp file two days old was not removed")
	}
	for _, p := range kept {
		if !exists(p) {
			t.Errorf("%s: removed, though its task is live or newer than the list", p)
		}
	}
	if r := res.Janitor; r == nil || r.Removed != 4 || r.Bytes <= 0 || r.Kept != 0 || r.Failed != 0 {
		t.Errorf("janitor report %+v, want 4 removed", r)
	}
	// The killed restore's held database may be the only copy of the
	// site's data (on a server it was renamed away): it stays.
	if len(glob(t, held)) != 1 {
		t.Error("the killed restore's held database was removed")
	}
	logs := b.logs.String()
	for _, id := range []string{bc.Task.ID, rc.Task.ID, cc.Task.ID} {
		if !strings.Contains(logs, `"owner_task":"`+id+`"`) || !strings.Contains(logs, "janitor: removed the leftover of a dead task") {
			t.Errorf("no janitor line for task %s", id)
		}
	}

	// Without a live list (an older dispatcher) the janitor does nothing.
	touch(t, filepath.Join(sites1, ".aegir-staging-"+bc.Task.ID), long, true)
	if res := b.mustRun(b.ctx(domain.TaskVerify, site, "static1")); res.Janitor != nil || !exists(filepath.Join(sites1, ".aegir-staging-"+bc.Task.ID)) {
		t.Errorf("the janitor ran without a live list: %+v", res.Janitor)
	}
}

// TestJanitorRemovesReplacedFilesLate: the directory a restore replaced
// (.aegir-replaced-<task>) is left for remove-replaced-files; the janitor
// removes it only once its restore is no longer live and it was left an
// hour before the live list (replacedAge), should that task never run.
func TestJanitorRemovesReplacedFilesLate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.installed("late.example.com", "static1")
	sites := filepath.Join(b.platform["static1"].Path, "sites")
	dead, live := domain.NewID(), domain.NewID()
	long := time.Now().Add(-2 * time.Hour)
	for _, id := range []string{dead, live} {
		d := filepath.Join(sites, ".aegir-replaced-"+id, "public")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "index.html"), []byte("replaced"), 0o644); err != nil {
			t.Fatal(err)
		}
		touch(t, filepath.Dir(d), long, true)
	}
	b.runner.JanitorInterval, b.runner.ClockSkew = -1, -1
	run := func(asOf time.Time) provision.Result {
		c := b.ctx(domain.TaskVerify, site, "static1")
		c.Live = &provision.LiveTasks{AsOf: asOf, IDs: []string{live}}
		return b.mustRun(c)
	}
	// Renamed just now (its ctime), though its files are older: kept.
	if res := run(time.Now()); res.Janitor != nil || !exists(filepath.Join(sites, ".aegir-replaced-"+dead)) {
		t.Fatalf("removed before remove-replaced-files had its hour: %+v", res.Janitor)
	}
	// An hour and more later: the dead restore's goes, the live one's stays.
	res := run(time.Now().Add(time.Hour + time.Minute))
	if exists(filepath.Join(sites, ".aegir-replaced-"+dead)) {
		t.Error("the janitor left a replaced directory an hour old")
	}
	if !exists(filepath.Join(sites, ".aegir-replaced-"+live)) {
		t.Error("the janitor removed the replaced directory of a live restore")
	}
	if r := res.Janitor; r == nil || r.Removed != 1 || r.Kept != 0 || r.Failed != 0 {
		t.Errorf("janitor report %+v, want 1 removed", r)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestJanitorVerifyBackupLeftover: a verify-backup that died left its
// throwaway site (directory, database, web config) and its marker; the
// next task on the site's platform and services removes all of it.
func TestJanitorVerifyBackupLeftover(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.installed("vb.example.com", "static1")
	sites1 := filepath.Join(b.platform["static1"].Path, "sites")

	dead := domain.NewID()
	vdomain := provision.VerifyDomain(dead)
	dir := filepath.Join(sites1, vdomain)
	if err := os.MkdirAll(filepath.Join(dir, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	b.exec(dead, "CREATE TABLE t (n INTEGER)")
	web, err := builtinweb.NewDriverFactory(b.webSvc, b.webSrv, provision.EnvInfo{DataDir: b.dataDir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := web.Publish(context.Background(), provision.WebSite{Domain: vdomain, Docroot: filepath.Join(dir, "public")}); err != nil {
		t.Fatal(err)
	}
	route := glob(t, filepath.Join(builtinweb.RoutesDir(b.dataDir), vdomain+"*"))
	if len(route) != 1 {
		t.Fatalf("routes %v", route)
	}
	marker := filepath.Join(sites1, ".aegir-partial-"+dead)
	js, _ := json.Marshal(map[string]any{"dir": vdomain, "site_id": dead, "db_service": b.dbSvc.ID, "domain": vdomain, "web_service": b.webSvc.ID})
	if err := os.WriteFile(marker, js, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	_ = os.Chtimes(marker, old, old)

	c := b.ctx(domain.TaskVerify, site, "static1")
	c.Live = &provision.LiveTasks{AsOf: time.Now(), IDs: []string{domain.NewID()}}
	b.runner.ClockSkew = -1
	res := b.mustRun(c)
	for _, p := range []string{dir, marker, b.sqlitePath(dead), route[0]} {
		if exists(p) {
			t.Errorf("%s: left by a dead verify-backup", p)
		}
	}
	if r := res.Janitor; r == nil || r.Removed != 1 || r.Failed != 0 {
		t.Errorf("janitor report %+v", r)
	}

	// A verify-backup that finishes leaves no marker.
	bk := b.mustRun(b.ctx(domain.TaskBackup, site, "static1")).Changes.Backups[0]
	vc := b.ctx(domain.TaskVerifyBackup, site, "static1")
	vc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	b.mustRun(vc)
	if m := glob(t, filepath.Join(sites1, ".aegir-*")); len(m) != 0 {
		t.Errorf("left after a verify-backup: %v", m)
	}
}

// TestJanitorOrphanArchive: an archive written by a task the dispatcher
// says ended without a backup record is removed before the site's next
// task; the site's recorded archives stay.
func TestJanitorOrphanArchive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.installed("orphan.example.com", "static1")
	bc := b.ctx(domain.TaskBackup, site, "static1")
	orphan := b.mustRun(bc).Changes.Backups[0] // its result "never applied"
	kept := b.mustRun(b.ctx(domain.TaskBackup, site, "static1")).Changes.Backups[0]

	c := b.ctx(domain.TaskVerify, site, "static1")
	c.Live = &provision.LiveTasks{AsOf: time.Now(), IDs: []string{}, Unrecorded: []string{bc.Task.ID}}
	res := b.mustRun(c)
	if exists(orphan.Path) {
		t.Errorf("%s: the archive of a task with no backup record was kept", orphan.Path)
	}
	if !exists(kept.Path) {
		t.Errorf("%s: a recorded archive was removed", kept.Path)
	}
	if r := res.Janitor; r == nil || r.Removed != 1 || r.Bytes != orphan.Size {
		t.Errorf("janitor report %+v, want 1 removed of %d bytes", r, orphan.Size)
	}
}

// runChild runs c to its end in a child back end (the test binary as
// `aegir provision run`, with the Runner's default janitor interval and
// clock skew) and returns its result.
func (b *bundle) runChild(c *provision.Context) provision.Result {
	t := b.t
	t.Helper()
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "context.json")
	if err := os.WriteFile(path, js, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childContextEnv+"="+path)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s in a child back end: %v\n%s", c.Task.Type, err, stderr.String())
	}
	var res provision.Result
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		t.Fatalf("%s: the child's result: %v\n%s", c.Task.Type, err, stdout.String())
	}
	if res.Status != domain.TaskSucceeded {
		t.Fatalf("%s in a child back end: %s: %s\n%s", c.Task.Type, res.ErrorCode, res.Explanation, stderr.String())
	}
	return res
}

// TestJanitorAtNextStart: back ends killed with SIGKILL during a backup
// and a restore leave a temp archive and a staging directory; the next back end started on the server (a fresh
// process with the default janitor settings, once the dispatcher's list
// of live tasks is later than the leftovers by the clock skew) removes
// all of them before its own task. Staging directories are swept at every
// start; the backup directory at most every JanitorInterval, so a temp
// archive left just after a sweep waits for the next one.
func TestJanitorAtNextStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs back ends as child processes")
	}
	t.Parallel()
	b := setup(t)
	site := b.installed("next.example.com", "static1")
	bk := b.mustRun(b.ctx(domain.TaskBackup, site, "static1")).Changes.Backups[0]
	backupDir := filepath.Join(b.dataDir, "backups", site.Domain)
	sites1 := filepath.Join(b.platform["static1"].Path, "sites")

	bc := b.ctx(domain.TaskBackup, site, "static1")
	b.killMidTask(bc, func() bool { return len(glob(t, filepath.Join(backupDir, "*.tmp-"+bc.Task.ID+"-*"))) == 1 })
	rc := b.ctx(domain.TaskRestore, site, "static1")
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	staging := filepath.Join(sites1, ".aegir-staging-"+rc.Task.ID)
	// A restore sets the live database aside instead of writing a
	// pre-restore archive; what it leaves when killed while unpacking is
	// its staging directory (the database held aside is kept for the
	// operator: it may be the only copy, see the package doc).
	b.killMidTask(rc, func() bool { return exists(staging) })
	left := []string{filepath.Join(backupDir, "*.tmp-"+bc.Task.ID+"-*"), staging}
	for _, p := range left {
		if len(glob(t, p)) != 1 {
			t.Fatalf("%s: the killed back end left nothing to remove", p)
		}
	}

	// The next start: the dispatcher's list, taken later than the
	// leftovers by more than the clock skew, names neither dead task.
	later := time.Now().Add(provision.DefaultClockSkew + time.Minute)
	next := b.ctx(domain.TaskVerify, site, "static1")
	next.Live = &provision.LiveTasks{AsOf: later}
	res := b.runChild(next)
	for _, p := range left {
		if m := glob(t, p); len(m) != 0 {
			t.Errorf("%v: left by a dead task, not removed at the next start", m)
		}
	}
	if r := res.Janitor; r == nil || r.Removed != len(left) || r.Failed != 0 {
		t.Errorf("janitor report %+v, want %d removed", r, len(left))
	}

	// Right after that sweep: a staging directory goes at the next start,
	// a temp archive waits for the backup directory's next sweep.
	dead := domain.NewID()
	long := time.Now().Add(-time.Hour)
	touch(t, filepath.Join(sites1, ".aegir-staging-"+dead), long, true)
	tmp := filepath.Join(backupDir, "x.tar.zst.tmp-"+dead+"-00aa00aa00aa")
	touch(t, tmp, long, false)
	again := b.ctx(domain.TaskVerify, site, "static1")
	again.Live = &provision.LiveTasks{AsOf: later}
	b.runChild(again)
	if exists(filepath.Join(sites1, ".aegir-staging-"+dead)) {
		t.Error("a dead task's staging directory survived the next start")
	}
	if !exists(tmp) {
		t.Errorf("the backup directory was swept again within %s", provision.DefaultJanitorInterval)
	}
}
