package provision_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/platform"
	"github.com/aegirhq/aegir/internal/provision/webnginx"
)

// BenchmarkWordPressInstall measures installing a WordPress site (Debian's
// wordpress package as the wordpress-aegir platform) through the Runner on
// nginx + php-fpm (workers as www-data, a pool per site as root) +
// MariaDB, next to the same job done bare in the same run: create the
// database and its user, write the site's directory and settings, run
// the platform's installer (php aegir/install.php), publish a vhost to
// the shared pool and wait for the front page (bareInstall). aegir's
// install also makes the site's Unix user and its own pool, and waits
// until the front page is WordPress's (the manifest's expect). Each
// iteration does one of each, plus an aegir install that loads the
// site's pool after the installer instead of during it (the two
// alternately first); it prints p50 and p99 of each and aegir/bare. The
// goal (issue 12) is under 3 s and within 1.5× of bare; the benchmark
// reports, it does not assert. Each site is deleted after it is measured.
// AEGIR_BENCH_PROFILE=1 prints each install's timeline from its log.
//
//	go test ./internal/provision -run XXX -bench WordPressInstall -benchtime 20x
func BenchmarkWordPressInstall(b *testing.B) {
	needPackage(b, wordpress)
	s := setupStack(b, domain.KindMariaDB)
	profile := os.Getenv("AEGIR_BENCH_PROFILE") != ""
	if !profile { // keep log formatting out of the figures
		s.runner.Log = slog.New(slog.DiscardHandler)
	}
	s.addRealPlatform(wordpress, "wp")
	plat := s.platform["wp"]
	admin, err := sql.Open("mysql", s.maria.DSN(""))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()

	// serial is the same back end with the pool loaded after the
	// installer, as before the overlap (a driver without PublishPool):
	// both orders run in every iteration, alternately first, so the
	// overlap's gain is measured under the same load.
	serial := *s.runner
	serial.Deps.Web = map[domain.ServiceKind]provision.WebFactory{domain.KindNginx: func(svc provision.ServiceInfo, srv provision.ServerInfo, env provision.EnvInfo, log *slog.Logger) (provision.WebDriver, error) {
		d, err := webnginx.Factory(svc, srv, env, log)
		return serialWeb{d}, err
	}}
	install := func(r *provision.Runner, site *provision.SiteInfo, i int) time.Duration {
		mark := len(s.logs.String())
		start := time.Now()
		res := r.Run(context.Background(), s.ctx(domain.TaskInstall, site, "wp"))
		took := time.Since(start)
		if profile {
			fmt.Fprintf(os.Stderr, "install %d (%s) took %s:\n%s", i, site.Domain, took.Round(time.Millisecond), timeline(start, s.logs.String()[mark:]))
		}
		if res.Status != domain.TaskSucceeded {
			b.Fatalf("install %s: %s: %s (%s)\n%s", site.Domain, res.ErrorCode, res.Explanation, res.FixHint, s.logs.String())
		}
		site.Status = domain.SiteEnabled
		return took
	}

	var withAegir, withSerial, bare []time.Duration
	for i := 0; b.Loop(); i++ {
		site := &provision.SiteInfo{ID: domain.NewID(), Domain: fmt.Sprintf("wp%d.example.com", i), Status: domain.SitePending}
		ser := &provision.SiteInfo{ID: domain.NewID(), Domain: fmt.Sprintf("ws%d.example.com", i), Status: domain.SitePending}
		if i%2 == 0 {
			withAegir = append(withAegir, install(s.runner, site, i))
			withSerial = append(withSerial, install(&serial, ser, i))
		} else {
			withSerial = append(withSerial, install(&serial, ser, i))
			withAegir = append(withAegir, install(s.runner, site, i))
		}

		start := time.Now()
		bareInstall(b, admin, s, plat, i)
		bare = append(bare, time.Since(start))

		b.StopTimer()
		s.mustRun(s.ctx(domain.TaskDelete, site, "wp"))
		s.mustRun(s.ctx(domain.TaskDelete, ser, "wp"))
		bareRemove(b, admin, s, plat, i)
		b.StartTimer()
	}
	ap50, ap99 := percentile(withAegir, 50), percentile(withAegir, 99)
	sp50, sp99 := percentile(withSerial, 50), percentile(withSerial, 99)
	bp50, bp99 := percentile(bare, 50), percentile(bare, 99)
	b.ReportMetric(ap50.Seconds()*1000, "aegir-p50-ms")
	b.ReportMetric(ap99.Seconds()*1000, "aegir-p99-ms")
	b.ReportMetric(sp50.Seconds()*1000, "serial-p50-ms")
	b.ReportMetric(bp50.Seconds()*1000, "bare-p50-ms")
	b.ReportMetric(bp99.Seconds()*1000, "bare-p99-ms")
	b.ReportMetric(ap50.Seconds()/bp50.Seconds(), "p50-ratio")
	b.Logf("WordPress install over %d runs: aegir p50 %s p99 %s; pool after the installer p50 %s p99 %s; bare p50 %s p99 %s; aegir/bare %.2f× (p50), %.2f× (p99); goal: under 3 s and within 1.5×",
		len(bare), ap50.Round(time.Millisecond), ap99.Round(time.Millisecond), sp50.Round(time.Millisecond), sp99.Round(time.Millisecond),
		bp50.Round(time.Millisecond), bp99.Round(time.Millisecond), ap50.Seconds()/bp50.Seconds(), ap99.Seconds()/bp99.Seconds())
}

// serialWeb hides webnginx's PublishPool: the install then loads the
// pool after the installer, as Publish does (the benchmark's "before").
type serialWeb struct{ provision.WebDriver }

// percentile is the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100 // ceil(p/100 × n), 1-based
	return s[max(i, 1)-1]
}

// bareInstall does by hand what an install of site n needs at least,
// the way a person would on the same nginx + php-fpm: the database and
// its user, the site directory with its settings file (readable by the
// web group), WordPress's installer run as root from the platform root, a
// vhost passing PHP to the shared www-data pool (written, nginx -t,
// nginx -s reload), and the front page fetched until it is WordPress's:
// a site is installed when it answers, which aegir's install checks too.
// No site user, no pool of its own, no rollback.
func bareInstall(b *testing.B, admin *sql.DB, s *stack, plat *provision.PlatformInfo, n int) {
	b.Helper()
	name, dom := fmt.Sprintf("bare%d", n), fmt.Sprintf("bare%d.example.com", n)
	for _, q := range []string{ // names built here from n, never input
		"CREATE DATABASE `" + name + "`",
		"CREATE USER '" + name + "'@'localhost' IDENTIFIED BY 'bare-password'",
		"CREATE USER '" + name + "'@'127.0.0.1' IDENTIFIED BY 'bare-password'",
		"GRANT ALL ON `" + name + "`.* TO '" + name + "'@'localhost'",
		"GRANT ALL ON `" + name + "`.* TO '" + name + "'@'127.0.0.1'",
	} {
		if _, err := admin.Exec(q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	dir := filepath.Join(plat.Path, "sites", dom)
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		b.Fatal(err)
	}
	settings, _ := json.Marshal(platform.DB{Driver: "mariadb", Host: "127.0.0.1", Port: s.dbSvc.Port, Name: name, User: name, Password: "bare-password"})
	file := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(file, settings, 0o640); err != nil {
		b.Fatal(err)
	}
	if grp, err := user.LookupGroup("www-data"); err == nil { // the shared pool's workers read it
		gid, _ := strconv.Atoi(grp.Gid)
		if err := os.Chown(file, 0, gid); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command("php", "aegir/install.php")
	cmd.Dir = plat.Path
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "AEGIR_SITE_DOMAIN=" + dom, "AEGIR_SITE_DIR=" + dir,
		"AEGIR_SETTINGS=" + file, "AEGIR_PLATFORM_DIR=" + plat.Path}
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("bare installer: %v\n%s", err, out)
	}
	vhost := fmt.Sprintf(bareVhost, s.nginx.Port, dom, plat.Path, s.fpm.Socket, file, dom)
	if err := os.WriteFile(filepath.Join(s.nginx.ConfDir, dom+".conf"), []byte(vhost), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, args := range [][]string{{"-t", "-q", "-c", s.nginx.MainConfig}, {"-s", "reload", "-c", s.nginx.MainConfig}} {
		if out, err := exec.Command(s.nginx.Bin, args...).CombinedOutput(); err != nil {
			b.Fatalf("nginx %v: %v\n%s", args, err, out)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := s.get(dom, "/")
		if code == 200 && strings.Contains(body, `<meta name="generator" content="WordPress`) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("bare site %s: HTTP %d: %.300s", dom, code, body)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// bareVhost is the vhost a person would write for a bare site: the
// platform as docroot, its settings denied, PHP to the shared pool.
const bareVhost = `server {
    listen 127.0.0.1:%d;
    server_name %s;
    root %s;
    index index.php;
    location ^~ /sites/ { deny all; }
    location / { try_files $uri $uri/ /index.php$is_args$args; }
    location ~ \.php$ {
        try_files $fastcgi_script_name =404;
        fastcgi_pass unix:%s;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_param SCRIPT_NAME $fastcgi_script_name;
        fastcgi_param QUERY_STRING $query_string;
        fastcgi_param REQUEST_METHOD $request_method;
        fastcgi_param REQUEST_URI $request_uri;
        fastcgi_param SERVER_NAME $host;
        fastcgi_param SERVER_PORT $server_port;
        fastcgi_param REMOTE_ADDR $remote_addr;
        fastcgi_param AEGIR_SETTINGS %s;
        fastcgi_param AEGIR_SITE_DOMAIN %s;
    }
}
`

// bareRemove undoes bareInstall.
func bareRemove(b *testing.B, admin *sql.DB, s *stack, plat *provision.PlatformInfo, n int) {
	b.Helper()
	name := fmt.Sprintf("bare%d", n)
	for _, q := range []string{"DROP DATABASE `" + name + "`", "DROP USER '" + name + "'@'localhost'", "DROP USER '" + name + "'@'127.0.0.1'"} {
		if _, err := admin.Exec(q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(plat.Path, "sites", fmt.Sprintf("bare%d.example.com", n))); err != nil {
		b.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s.nginx.ConfDir, fmt.Sprintf("bare%d.example.com.conf", n))); err != nil {
		b.Fatal(err)
	}
}

// timeline turns the JSON log lines of one task into "+ms message attrs"
// lines, offsets from start: where an install's time goes
// (AEGIR_BENCH_PROFILE=1).
func timeline(start time.Time, logs string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		t, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(m["time"]))
		fmt.Fprintf(&b, "%+6dms %s", t.Sub(start).Milliseconds(), m["msg"])
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if k != "time" && k != "msg" && k != "level" && k != "task" {
				fmt.Fprintf(&b, " %s=%v", k, m[k])
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
