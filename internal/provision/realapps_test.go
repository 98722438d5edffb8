package provision_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
)

// A real application from Debian's packages run as a php platform the way
// an operator would: the package's tree copied with its links resolved,
// the operator's manifest and glue (internal/testharness/testdata/platforms/<app>-aegir) laid
// over it, on nginx + php-fpm as www-data + a database server.
type realApp struct {
	pkg     string // Debian package
	tree    string // where the package puts the application
	overlay string // testharness.PlatformFixture(overlay): aegir.hcl and glue
	// title is a text of the front page naming the site installed as dom
	// (its clones and its migrated self keep that name: it is content).
	title func(dom string) string
	front string // the front page's path
	// write stores text under key through the application (a post, a page).
	write func(s *stack, plat, dom, key, text string)
	// page is the path of the page showing key's content.
	page func(key string) string
}

var wordpress = realApp{
	pkg: "wordpress", tree: "/usr/share/wordpress", overlay: "wordpress-aegir",
	title: func(dom string) string { return "<title>" + dom },
	front: "/",
	write: func(s *stack, plat, dom, key, text string) {
		s.sitePHP(plat, dom, map[string]string{"WP_KEY": key, "WP_TEXT": text}, `
$_SERVER['HTTP_HOST'] = getenv('AEGIR_SITE_DOMAIN');
require 'wp-load.php';
$p = get_page_by_path(getenv('WP_KEY'), OBJECT, 'post');
$id = wp_insert_post(['ID' => $p ? $p->ID : 0, 'post_name' => getenv('WP_KEY'), 'post_title' => getenv('WP_TEXT'),
    'post_content' => getenv('WP_TEXT'), 'post_status' => 'publish', 'post_author' => 1], true);
if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message()); exit(1); }
`)
	},
	page: func(key string) string { return "/?name=" + key },
}

var mediawiki = realApp{
	pkg: "mediawiki", tree: "/usr/share/mediawiki", overlay: "mediawiki-aegir",
	title: func(string) string { return "<title>AegirWiki</title>" },
	front: "/index.php?title=Main_Page", // "/" redirects there
	write: func(s *stack, plat, dom, key, text string) {
		s.siteRun(plat, dom, map[string]string{"MW_SITENAME": "AegirWiki"}, text,
			"php", "maintenance/edit.php", "--user", "Admin", "--summary", "aegir test", key)
	},
	page: func(key string) string { return "/index.php?title=" + strings.ToUpper(key[:1]) + key[1:] }, // titles start upper case
}

// needPackage skips the test when pkg's tree is missing, or fails it when
// CI=true (ops/install-deps.sh installs it).
func needPackage(t testing.TB, app realApp) {
	t.Helper()
	testharness.RequireTree(t, app.pkg, app.tree)
}

// addRealPlatform makes app's platform (testharness.DebianAppPlatform) in
// the stack's platforms directory as name and registers it as a php
// platform.
func (s *stack) addRealPlatform(app realApp, name string) {
	s.t.Helper()
	dir := filepath.Join(filepath.Dir(s.platform["php1"].Path), name)
	testharness.DebianAppPlatform(s.t, app.tree, app.overlay, dir)
	s.platform[name] = &provision.PlatformInfo{ID: domain.NewID(), Name: name, Path: dir, Type: domain.PlatformPHP}
}

// sitePHP runs code with php-cli from the platform root with the site's
// aegir environment plus env, as the site's Unix user when the test runs
// as root: what an operator's shell on the server would do.
func (s *stack) sitePHP(plat, dom string, env map[string]string, code string) string {
	s.t.Helper()
	return s.siteRun(plat, dom, env, "", "php", "-r", code)
}

// siteRun runs argv from the platform root like sitePHP, with stdin.
func (s *stack) siteRun(plat, dom string, env map[string]string, stdin string, argv ...string) string {
	s.t.Helper()
	root := s.platform[plat].Path
	siteDir := filepath.Join(root, "sites", dom)
	if os.Geteuid() == 0 {
		name, err := provision.SiteUserName(dom)
		if err != nil {
			s.t.Fatal(err)
		}
		argv = append([]string{"setpriv", "--reuid=" + name, "--regid=" + name, "--clear-groups"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = root
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "AEGIR_SITE_DOMAIN=" + dom, "AEGIR_SITE_DIR=" + siteDir,
		"AEGIR_SETTINGS=" + filepath.Join(siteDir, "settings.json"), "AEGIR_PLATFORM_DIR=" + root}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("%s as %s's user: %v\n%s", argv[len(argv)-1], dom, err, out)
	}
	return string(out)
}

// shows fails the test unless host's page path answers 200 with text.
func (s *stack) shows(host, path, text string) {
	s.t.Helper()
	code, body := s.get(host, path)
	if code != 200 || !strings.Contains(body, text) {
		s.t.Fatalf("GET %s%s answered %d without %q:\n%.2000s\nnginx error log:\n%s", host, path, code, text, body, s.nginx.ErrorLogTail(10))
	}
}

// lacks fails the test if host's page path holds text.
func (s *stack) lacks(host, path, text string) {
	s.t.Helper()
	if _, body := s.get(host, path); strings.Contains(body, text) {
		s.t.Fatalf("GET %s%s holds %q", host, path, text)
	}
}

// TestRealApps drives WordPress and MediaWiki from Debian's packages
// through a site's whole life on nginx + php-fpm as www-data + MariaDB,
// and MediaWiki on PostgreSQL too.
func TestRealApps(t *testing.T) {
	t.Parallel()
	t.Run("wordpress", func(t *testing.T) {
		t.Parallel()
		needPackage(t, wordpress)
		testRealApp(t, setupStack(t, domain.KindMariaDB), wordpress, "wp")
	})
	t.Run("mediawiki", func(t *testing.T) {
		t.Parallel()
		needPackage(t, mediawiki)
		testRealApp(t, setupStack(t, domain.KindMariaDB), mediawiki, "mw")
	})
	t.Run("mediawiki-postgresql", func(t *testing.T) {
		t.Parallel()
		needPackage(t, mediawiki)
		testRealApp(t, setupStack(t, domain.KindPostgreSQL), mediawiki, "mwpg")
	})
}

func testRealApp(t *testing.T, s *stack, app realApp, z string) {
	p1, p2 := z+"1", z+"2"
	s.addRealPlatform(app, p1)
	s.addRealPlatform(app, p2)
	z += ".example.com"
	blog, cp, moved := "blog."+z, "copy."+z, "moved."+z
	site := &provision.SiteInfo{ID: domain.NewID(), Domain: blog, Status: domain.SitePending}

	// install: the application's own front page, settings never served.
	s.mustRun(s.ctx(domain.TaskInstall, site, p1))
	site.Status = domain.SiteEnabled
	s.owned(blog, p1)
	s.settingsNotServed(blog, p1)
	s.shows(blog, app.front, app.title(blog))
	// The glue is not a web page: the manifest's snippet denies it.
	if code, _ := s.get(blog, "/aegir/install.php"); code != 403 {
		t.Fatalf("GET /aegir/install.php answered %d, want 403", code)
	}

	// content written through the application.
	app.write(s, p1, blog, "first", "Written through the application")
	s.shows(blog, app.page("first"), "Written through the application")

	// backup, change, restore: the content is back.
	res := s.mustRun(s.ctx(domain.TaskBackup, site, p1))
	bk := res.Changes.Backups[0]
	app.write(s, p1, blog, "first", "Changed after the backup")
	s.shows(blog, app.page("first"), "Changed after the backup")
	rc := s.ctx(domain.TaskRestore, site, p1)
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	s.mustRun(rc)
	s.owned(blog, p1)
	s.shows(blog, app.page("first"), "Written through the application")
	s.lacks(blog, app.page("first"), "Changed after the backup")

	// verify rewrites the settings (same owner and mode), cron runs the
	// application's own.
	s.mustRun(s.ctx(domain.TaskVerify, site, p1))
	s.owned(blog, p1)
	s.mustRun(s.ctx(domain.TaskCron, site, p1))
	s.shows(blog, app.page("first"), "Written through the application")

	// clone to the second platform: same content; writes to the clone
	// leave the source alone.
	cc := s.ctx(domain.TaskClone, site, p1)
	cc.Target = &provision.TargetInfo{SiteID: domain.NewID(), Domain: cp, Platform: s.platform[p2],
		WebServer: &s.webSrv, WebService: &s.webSvc, DBServer: &s.dbSrv, DBService: &s.dbSvc}
	s.mustRun(cc)
	clone := &provision.SiteInfo{ID: cc.Target.SiteID, Domain: cp, Status: domain.SiteEnabled}
	s.owned(cp, p2)
	s.settingsNotServed(cp, p2)
	s.shows(cp, app.front, app.title(blog)) // the title is the content's: the source's
	s.shows(cp, app.page("first"), "Written through the application")
	app.write(s, p2, cp, "first", "Written on the clone")
	s.shows(cp, app.page("first"), "Written on the clone")
	s.shows(blog, app.page("first"), "Written through the application")
	s.lacks(blog, app.page("first"), "Written on the clone")

	// disable (503) and enable.
	s.mustRun(s.ctx(domain.TaskDisable, site, p1))
	site.Status = domain.SiteDisabled
	if code, _ := s.get(blog, "/"); code != 503 {
		t.Fatalf("disabled site answered %d", code)
	}
	s.mustRun(s.ctx(domain.TaskEnable, site, p1))
	site.Status = domain.SiteEnabled
	s.shows(blog, app.page("first"), "Written through the application")

	// migrate to the second copy of the platform under a new domain.
	mc := s.ctx(domain.TaskMigrate, site, p1)
	mc.Target = &provision.TargetInfo{Domain: moved, Platform: s.platform[p2],
		WebServer: &s.webSrv, WebService: &s.webSvc, DBServer: &s.dbSrv, DBService: &s.dbSvc}
	s.mustRun(mc)
	site.Domain = moved
	s.owned(moved, p2)
	s.settingsNotServed(moved, p2)
	s.shows(moved, app.front, app.title(blog))
	s.shows(moved, app.page("first"), "Written through the application")
	if code, _ := s.get(blog, "/"); code != 404 {
		t.Fatalf("the old domain still answers %d", code)
	}

	// delete both: database, database user, Unix user, files and vhost gone.
	for _, st := range []*provision.SiteInfo{site, clone} {
		s.mustRun(s.ctx(domain.TaskDelete, st, p2))
		if !s.dbGone(provision.NameFor(st.ID)) {
			t.Errorf("database or database user of %s left behind", st.Domain)
		}
		if name, _ := provision.SiteUserName(st.Domain); userExists(name) {
			t.Errorf("Unix user %s of %s left after delete", name, st.Domain)
		}
		if _, err := os.Stat(filepath.Join(s.platform[p2].Path, "sites", st.Domain)); err == nil {
			t.Errorf("site directory of %s left after delete", st.Domain)
		}
		if _, err := os.Stat(filepath.Join(s.nginx.ConfDir, st.Domain+".conf")); err == nil {
			t.Errorf("vhost of %s left after delete", st.Domain)
		}
		if code, _ := s.get(st.Domain, "/"); code != 404 {
			t.Errorf("deleted site %s answers %d", st.Domain, code)
		}
	}
}
