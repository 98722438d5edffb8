package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/secrets"
)

// snapshot lists every file under the dirs with its content, to prove a
// failed task changed nothing.
func snapshot(t *testing.T, dirs ...string) string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			line := p
			if !d.IsDir() {
				b, _ := os.ReadFile(p)
				line += " " + string(b)
			}
			out = append(out, line)
			return nil
		})
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func wantFailure(t *testing.T, res provision.Result, code string) {
	t.Helper()
	if res.Status != domain.TaskFailed || res.ErrorCode != code {
		t.Fatalf("got %s %s: %s, want failed %s", res.Status, res.ErrorCode, res.Explanation, code)
	}
	if res.Explanation == "" || res.FixHint == "" {
		t.Fatalf("failure without explanation or fix hint: %+v", res)
	}
}

func TestMissingPlatformDirIsExplained(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.platform["gone"] = &provision.PlatformInfo{ID: domain.NewID(), Name: "gone", Path: filepath.Join(t.TempDir(), "nope"), Type: domain.PlatformStatic}
	before := snapshot(t, b.dataDir)
	res := b.run(b.ctx(domain.TaskInstall, b.newSite("a.example.com"), "gone"))
	wantFailure(t, res, provision.CodePlatformMissing)
	if !strings.Contains(res.Explanation, "has no directory at") || res.Changes.SiteStatus != domain.SiteFailed {
		t.Fatalf("explanation %q, status %q", res.Explanation, res.Changes.SiteStatus)
	}
	if after := snapshot(t, b.dataDir); after != before {
		t.Fatalf("a failed install changed the data dir:\n%s", after)
	}
}

func TestCraftedValuesAreRefusedBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := map[string]func(c *provision.Context){
		"domain-traversal":  func(c *provision.Context) { c.Site.Domain = "../../etc" },
		"domain-slash":      func(c *provision.Context) { c.Site.Domain = "a.com/../../x" },
		"domain-injection":  func(c *provision.Context) { c.Site.Domain = "a.com; rm -rf /" },
		"domain-uppercase":  func(c *provision.Context) { c.Site.Domain = "A.example.com" },
		"alias-newline":     func(c *provision.Context) { c.Site.Aliases = []string{"b.com\nserver { }"} },
		"platform-relative": func(c *provision.Context) { p := *c.Platform; p.Path = "platforms/x"; c.Platform = &p },
		"platform-dotdot":   func(c *provision.Context) { p := *c.Platform; p.Path = c.Platform.Path + "/../x"; c.Platform = &p },
		"data-dir-quote":    func(c *provision.Context) { c.Env.DataDir = "/tmp/a'b" },
		"site-id-sql":       func(c *provision.Context) { c.Site.ID = "x'; DROP TABLE t; --" },
		"profile-injection": func(c *provision.Context) { c.Site.Profile = "standard --db-url=x" },
		"service-setting": func(c *provision.Context) {
			s := *c.WebService
			s.Settings = map[string]string{"config_dir": "a\nb"}
			c.WebService = &s
		},
		"backup-dir-spaces":  func(c *provision.Context) { c.Env.BackupDir = "/tmp/my backups" },
		"missing-db-service": func(c *provision.Context) { c.DBService = nil },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			before := snapshot(t, b.dataDir, b.platform["static1"].Path)
			c := b.ctx(domain.TaskInstall, b.newSite("ok.example.com"), "static1")
			mutate(c)
			res := b.run(c)
			wantFailure(t, res, provision.CodeContextInvalid)
			if after := snapshot(t, b.dataDir, b.platform["static1"].Path); after != before {
				t.Fatalf("a refused context wrote files")
			}
		})
	}
}

func TestRestoreOfCorruptArchiveLeavesSiteUnchanged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.installed("corrupt.example.com", "static1")
	b.exec(site.ID, "CREATE TABLE t (n INTEGER)", "INSERT INTO t VALUES (1)")
	res := b.mustRun(b.ctx(domain.TaskBackup, site, "static1"))
	bk := res.Changes.Backups[0]

	// The archive is damaged after it was written; the site moves on.
	raw, err := os.ReadFile(bk.Path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x55
	if err := os.WriteFile(bk.Path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	b.exec(site.ID, "INSERT INTO t VALUES (2)")
	siteDir := filepath.Join(b.platform["static1"].Path, "sites", site.Domain)
	before := snapshot(t, siteDir)

	rc := b.ctx(domain.TaskRestore, site, "static1")
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	res = b.run(rc)
	wantFailure(t, res, provision.CodeBackupCorrupt)
	if after := snapshot(t, siteDir); after != before {
		t.Fatal("a failed restore changed the site's files")
	}
	if n := b.count(site.ID, "t"); n != 2 {
		t.Fatalf("a failed restore changed the database: %d rows", n)
	}
	if len(res.Changes.Backups) != 0 {
		t.Fatalf("no safety backup should be taken for an archive that does not verify: %+v", res.Changes.Backups)
	}
	if held := glob(t, filepath.Join(filepath.Dir(b.sqlitePath(site.ID)), ".*.aside-*")); len(held) != 0 {
		t.Fatalf("the database's held copy is left: %v", held)
	}
	entries, _ := os.ReadDir(filepath.Join(b.platform["static1"].Path, "sites"))
	if len(entries) != 1 {
		t.Fatalf("staging left behind: %v", entries)
	}
	if code, body := b.get(site.Domain, "/"); code != 200 {
		t.Fatalf("site answers %d after a failed restore: %s", code, body)
	}
}

// phpPlatform writes a php platform whose install hook is argv.
func (b *bundle) phpPlatform(name string, install []string) {
	dir := filepath.Join(b.t.TempDir(), name)
	if err := os.MkdirAll(filepath.Join(dir, "public"), 0o755); err != nil {
		b.t.Fatal(err)
	}
	q, _ := json.Marshal(install)
	hcl := "name = \"" + name + "\"\nversion = \"1.0\"\ndocroot = \"public\"\nhooks {\n  install = " + string(q) + "\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "aegir.hcl"), []byte(hcl), 0o644); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "public", "index.html"), []byte("php platform"), 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.platform[name] = &provision.PlatformInfo{ID: domain.NewID(), Name: name, Path: dir, Type: domain.PlatformPHP}
}

func TestFailedInstallIsRolledBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.phpPlatform("broken", []string{"sh", "-c", "echo creating tables; echo no such table >&2; exit 3"})
	b.platform["drupal"] = &provision.PlatformInfo{ID: domain.NewID(), Name: "drupal", Path: filepath.Join(t.TempDir(), "d10"), Type: domain.PlatformDrupal}
	copyDir(t, fixture(t, "drupal-fixture"), b.platform["drupal"].Path)
	// Without drush, aegir's own installer runs, and fails: no install.core.inc.
	if err := os.Remove(filepath.Join(b.platform["drupal"].Path, "core", "includes", "install.core.inc")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		plat, code, says string
	}{
		{"broken", provision.CodeInstallHookFailed, "install command"},
		{"drupal", provision.CodeInstallHookFailed, "install command"},
	} {
		site := b.newSite(tc.plat + ".example.com")
		res := b.run(b.ctx(domain.TaskInstall, site, tc.plat))
		wantFailure(t, res, tc.code)
		if !strings.Contains(res.Explanation, tc.says) || res.Changes.SiteStatus != domain.SiteFailed {
			t.Fatalf("%s: %q, status %q", tc.plat, res.Explanation, res.Changes.SiteStatus)
		}
		if _, err := os.Stat(filepath.Join(b.platform[tc.plat].Path, "sites", site.Domain)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: site dir left after rollback: %v", tc.plat, err)
		}
		if _, err := os.Stat(b.sqlitePath(site.ID)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: database left after rollback: %v", tc.plat, err)
		}
	}
	if !strings.Contains(b.logs.String(), "no such table") {
		t.Fatal("the hook's output did not reach the log")
	}
	b.assertNothingLeft()
}

func TestPlatformTasks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.platform["drupal"] = &provision.PlatformInfo{ID: domain.NewID(), Name: "drupal", Path: filepath.Join(t.TempDir(), "d10"), Type: domain.PlatformDrupal}
	copyDir(t, fixture(t, "drupal-fixture"), b.platform["drupal"].Path)

	res := b.run(b.platformCtx(domain.TaskVerifyPlatform, "drupal"))
	if res.Status != domain.TaskSucceeded || res.Changes.PlatformStatus != domain.PlatformReady || res.Changes.PlatformRel != "drupal 10.2.3" || len(res.Changes.Packages) < 5 {
		t.Fatalf("verify-platform drupal: %+v", res)
	}
	wrong := *b.platform["static1"]
	wrong.Type = domain.PlatformDrupal
	b.platform["wrong"] = &wrong
	res = b.run(b.platformCtx(domain.TaskVerifyPlatform, "wrong"))
	wantFailure(t, res, provision.CodePlatformType)
	if res.Changes.PlatformStatus != domain.PlatformFailed {
		t.Fatalf("verify-platform of a mismatched type proposed %q", res.Changes.PlatformStatus)
	}

	// lock: no new sites
	res = b.run(b.platformCtx(domain.TaskLock, "static1"))
	if res.Changes.PlatformLocked == nil || !*res.Changes.PlatformLocked {
		t.Fatalf("lock: %+v", res)
	}
	b.platform["static1"].Locked = true
	wantFailure(t, b.run(b.ctx(domain.TaskInstall, b.newSite("l.example.com"), "static1")), provision.CodePlatformLocked)
	res = b.run(b.platformCtx(domain.TaskUnlock, "static1"))
	if res.Changes.PlatformLocked == nil || *res.Changes.PlatformLocked {
		t.Fatalf("unlock: %+v", res)
	}
	b.platform["static1"].Locked = false

	// import finds a site, delete-platform refuses while it is there
	site := b.newSite("found.example.com")
	b.mustRun(b.ctx(domain.TaskInstall, site, "static1"))
	res = b.run(b.platformCtx(domain.TaskImport, "static1"))
	if len(res.Changes.NewSites) != 1 || res.Changes.NewSites[0].Domain != "found.example.com" {
		t.Fatalf("import: %+v", res.Changes.NewSites)
	}
	res = b.run(b.platformCtx(domain.TaskDeletePlatform, "static1"))
	wantFailure(t, res, provision.CodeSitesRemain)
	if !strings.Contains(res.Explanation, "found.example.com") {
		t.Fatalf("explanation does not name the site: %q", res.Explanation)
	}
	site.Status = domain.SiteEnabled
	b.mustRun(b.ctx(domain.TaskDelete, site, "static1"))
	res = b.run(b.platformCtx(domain.TaskDeletePlatform, "static1"))
	if res.Status != domain.TaskSucceeded || !res.Changes.RemovePlatform || !strings.Contains(res.Summary, "left in place") {
		t.Fatalf("delete-platform: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(b.platform["static1"].Path, "public", "index.html")); err != nil {
		t.Fatalf("delete-platform removed the platform's code: %v", err)
	}
}

func TestVerifyServerAndUnsupportedTasks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := &provision.Context{Version: provision.ContextVersion, Task: provision.TaskInfo{ID: domain.NewID(), Type: domain.TaskVerifyServer},
		Server: &b.webSrv, Services: []provision.ServiceInfo{b.webSvc, b.dbSvc}, Env: provision.EnvInfo{DataDir: b.dataDir}}
	res := b.run(c)
	if res.Status != domain.TaskSucceeded || res.Changes.ServerStatus != domain.ServerReady {
		t.Fatalf("verify-server: %+v", res)
	}
	// This runner's Deps carry no nginx driver (setup wires builtin and
	// sqlite only): a known kind without a driver in the build.
	nginx := provision.ServiceInfo{ID: domain.NewID(), ServerID: b.webSrv.ID, Type: domain.ServiceHTTP, Kind: domain.KindNginx}
	c.Services = append(c.Services, nginx)
	c.Task.ID = domain.NewID()
	res = b.run(c)
	wantFailure(t, res, provision.CodeServerCheckFailed)
	if res.Changes.ServerStatus != domain.ServerFailed || !strings.Contains(res.Explanation, "no driver for nginx") {
		t.Fatalf("verify-server with a missing driver: %+v", res)
	}
	// A kind aegir has no driver for at all (apache) is not a service kind:
	// the context is refused before anything runs.
	c.Services[len(c.Services)-1].Kind = "apache"
	c.Task.ID = domain.NewID()
	res = b.run(c)
	wantFailure(t, res, provision.CodeContextInvalid)
	if !strings.Contains(res.Explanation, `no driver for service kind "apache"`) {
		t.Fatalf("verify-server with an apache service: %+v", res)
	}
	// rotate-credentials is implemented (rotate.go, tested in vault_test.go);
	// on a site that was never installed it says so and changes nothing.
	wantFailure(t, b.run(b.ctx(domain.TaskRotateCredentials, b.newSite("r.example.com"), "static1")), provision.CodeSiteMissing)
}

func TestCancelledTaskIsRolledBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.phpPlatform("slow", []string{"sleep", "30"})
	site := b.newSite("slow.example.com")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan provision.Result)
	go func() { done <- b.runner.Run(ctx, b.ctx(domain.TaskInstall, site, "slow")) }()
	for !strings.Contains(b.logs.String(), `"command":"install"`) {
		select {
		case res := <-done:
			t.Fatalf("finished before cancel: %+v", res)
		default:
		}
	}
	cancel()
	res := <-done
	wantFailure(t, res, provision.CodeCancelled)
	if _, err := os.Stat(filepath.Join(b.platform["slow"].Path, "sites", site.Domain)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("cancelled install left its site dir: %v", err)
	}
}

// TestSecretsNeverLeave runs install and backup through Main, with a hook
// that prints the database password, and checks that no secret value
// appears on stdout or stderr.
func TestSecretsNeverLeave(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.phpPlatform("leaky", []string{"sh", "-c", `echo "password is $AEGIR_DB_PASSWORD"; echo "to stderr: $AEGIR_DB_PASSWORD" >&2`})
	site := b.newSite("leaky.example.com")
	var out, errOut bytes.Buffer
	run := func(c *provision.Context) provision.Result {
		doc, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if code := provision.Main(context.Background(), []string{"run", "--context", "-"}, bytes.NewReader(doc), &out, &errOut, b.deps); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		var res provision.Result
		dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
		if err := dec.Decode(&res); err != nil || dec.More() {
			t.Fatalf("stdout is not exactly one result: %v %q", err, out.String())
		}
		return res
	}
	res := run(b.ctx(domain.TaskInstall, site, "leaky"))
	if res.Status != domain.TaskSucceeded {
		t.Fatalf("install: %+v\n%s", res, errOut.String())
	}
	stdout := out.String()
	site.Status = domain.SiteEnabled
	run(b.ctx(domain.TaskBackup, site, "leaky"))
	stdout += out.String()

	st, err := secrets.OpenFile(filepath.Join(b.dataDir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := st.Get(context.Background(), secrets.SiteDBRef(site.ID))
	if err != nil || len(sec["password"]) < 20 {
		t.Fatalf("stored secret: %v %v", sec, err)
	}
	for key, v := range sec {
		if key == "username" {
			continue
		}
		if strings.Contains(stdout, v) || strings.Contains(errOut.String(), v) {
			t.Fatalf("secret %s leaked", key)
		}
	}
	if !strings.Contains(errOut.String(), "password is [redacted]") || !strings.Contains(errOut.String(), "to stderr: [redacted]") {
		t.Fatalf("hook output not logged redacted:\n%s", errOut.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(errOut.String()), "\n") {
		var l struct{ Time, Level, Msg string }
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Time == "" || l.Msg == "" ||
			(l.Level != "info" && l.Level != "warn" && l.Level != "error" && l.Level != "debug") {
			t.Fatalf("stderr line is not a JSON log line: %q", line)
		}
	}
}

func TestMainUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := provision.Main(context.Background(), []string{"--help"}, nil, &out, &errOut, provision.Deps{}); code != 0 || !strings.Contains(out.String(), "--context FILE") {
		t.Fatalf("help: %d %q", code, out.String())
	}
	if code := provision.Main(context.Background(), []string{"run"}, nil, &out, &errOut, provision.Deps{}); code != 2 {
		t.Fatalf("run without --context: exit %d", code)
	}
	out.Reset()
	if code := provision.Main(context.Background(), []string{"example-context"}, nil, &out, &errOut, provision.Deps{}); code != 0 {
		t.Fatal("example-context failed")
	}
	if _, err := provision.DecodeContext(bytes.NewReader(out.Bytes())); err != nil {
		t.Fatalf("the example context does not decode: %v", err)
	}
	out.Reset()
	if code := provision.Main(context.Background(), []string{"run", "--context", "-"}, strings.NewReader("{"), &out, &errOut, provision.Deps{}); code != 0 {
		t.Fatalf("a bad context must still produce a result, exit %d", code)
	}
	var res provision.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.ErrorCode != provision.CodeContextInvalid {
		t.Fatalf("bad context result: %q", out.String())
	}

	// A context of another release (another schema version, fields this
	// one cannot even decode) fails version_mismatch, naming both versions.
	for _, doc := range []string{
		fmt.Sprintf(`{"version":%d,"task":{"id":"01j00000000000000000","type":"verify"}}`, provision.ContextVersion+1),
		fmt.Sprintf(`{"version":%d,"task":"a shape of the future"}`, provision.ContextVersion+1),
		`{"task":{"id":"01j00000000000000000","type":"verify"}}`,
	} {
		if _, err := provision.DecodeContext(strings.NewReader(doc)); !errors.Is(err, provision.ErrVersionMismatch) {
			t.Errorf("DecodeContext(%s) = %v, want ErrVersionMismatch", doc, err)
		}
		out.Reset()
		if code := provision.Main(context.Background(), []string{"run", "--context", "-"}, strings.NewReader(doc), &out, &errOut, provision.Deps{}); code != 0 {
			t.Fatalf("exit %d", code)
		}
		res = provision.Result{}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.ErrorCode != provision.CodeVersionMismatch || res.Version != provision.ContextVersion ||
			!strings.Contains(res.Explanation, fmt.Sprintf("this back end reads %d", provision.ContextVersion)) || res.FixHint == "" {
			t.Errorf("result of %s: %q", doc, out.String())
		}
	}
}

// FuzzContext feeds arbitrary documents through decoding and the Runner:
// it must never panic, and with no drivers it must never write a file.
func FuzzContext(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add([]byte(`{"version":1,"task":{"id":"01j00000000000000000","type":"install"},"site":{"id":"01j00000000000000001","domain":` + strconv.Quote(s) + `},"platform":{"id":"01j00000000000000003","name":"p","path":` + strconv.Quote(s) + `,"type":"static"}}`))
	}
	ex, _ := json.Marshal(provision.ExampleContext())
	f.Add(ex)
	f.Add([]byte(`{"version":1,"task":{"id":"01j00000000000000000","type":"lock"},"platform":{"id":"01j00000000000000003","name":"p","path":"/nonexistent/p","type":"static"},"env":{"data_dir":"/nonexistent/d"}}`))
	f.Add([]byte(`{"version":1,"task":{"id":"01j00000000000000000","type":"install"},"site":{"id":"01j00000000000000001","domain":"../x"}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := provision.DecodeContext(bytes.NewReader(doc))
		if err != nil {
			return
		}
		c.Env.DataDir = "/nonexistent/aegir-fuzz"
		c.Env.BackupDir = ""
		r := &provision.Runner{}
		res := r.Run(context.Background(), c)
		if res.ErrorCode == provision.CodeInternal {
			t.Fatalf("internal error: %s", res.Explanation)
		}
	})
}

// A site whose directory and database are gone (its server was rebuilt) is
// restored into a new directory and a new database; a damaged archive
// leaves nothing behind.
func TestRestoreIntoMissingSite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.installed("lost.example.com", "static1")
	b.exec(site.ID, "CREATE TABLE t (n INTEGER)", "INSERT INTO t VALUES (1), (2)")
	bk := b.mustRun(b.ctx(domain.TaskBackup, site, "static1")).Changes.Backups[0]
	siteDir := filepath.Join(b.platform["static1"].Path, "sites", site.Domain)
	if err := os.RemoveAll(siteDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(b.sqlitePath(site.ID)); err != nil {
		t.Fatal(err)
	}

	// A damaged archive: refused, and no directory is left.
	raw, err := os.ReadFile(bk.Path)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.tar.zst")
	raw[len(raw)/2] ^= 0x55
	if err := os.WriteFile(bad, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	rc := b.ctx(domain.TaskRestore, site, "static1")
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bad, SHA256: bk.SHA256, Size: bk.Size}
	wantFailure(t, b.run(rc), provision.CodeBackupCorrupt)
	if _, err := os.Stat(siteDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed restore left %s: %v", siteDir, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(siteDir)); len(entries) != 0 {
		t.Fatalf("a failed restore left %v in the sites directory", entries)
	}

	rc = b.ctx(domain.TaskRestore, site, "static1")
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	res := b.mustRun(rc)
	if len(res.Changes.Backups) != 0 || !strings.Contains(res.Summary, "it was missing") {
		t.Errorf("restore into a missing site: %+v", res)
	}
	if n := b.count(site.ID, "t"); n != 2 {
		t.Errorf("restored database has %d rows, want 2", n)
	}
	if code, _ := b.get(site.Domain, "/"); code != 200 {
		t.Errorf("restored site answers %d", code)
	}
}
