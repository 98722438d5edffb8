package app_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// TestServerMigrateBehindTraefik migrates a site between two nginx web
// servers under `aegir server` (Consul store, so its routing reconciler
// publishes the sites) with a stock Traefik in front (ops/traefik's
// configuration) and a request loop through Traefik all along, with
// aegir's default release_grace: no request fails. The old vhost stays until
// Traefik has taken the site off the old server (the release-old-place
// task the migrate's result queued waits for the catalog and the grace),
// and is gone afterwards, with the old site directory.
func TestServerMigrateBehindTraefik(t *testing.T) {
	t.Parallel()
	testharness.RequireRoot(t, "nginx workers run as www-data and sites get their own users")
	consul := testharness.Consul(t)
	// The Traefik configuration shipped for operators (polls the catalog
	// every 2s, 1s provider throttle), and aegir's default release_grace.
	traefik := testharness.TraefikConfig(t, opsTraefik(consul.Addr))
	web1, web2 := testharness.Nginx(t), testharness.Nginx(t)

	s := startConfiguredServer(t, serverOptions{
		args: []string{"-store", "consul", "-consul-addr", consul.Addr},
		env:  []string{"AEGIR_CONSUL_PREFIX=" + testharness.UniquePrefix(t)},
	})
	if code := s.call("POST", "/clients", map[string]any{"name": "acme"}, nil); code != 201 {
		t.Fatalf("create client: %d", code)
	}
	platforms, dirs := map[string]string{}, map[string]string{}
	for _, w := range []struct {
		name string
		ngx  *testharness.NginxServer
	}{{"web1", web1}, {"web2", web2}} {
		var srv struct {
			Task task `json:"task"`
		}
		if code := s.call("POST", "/servers", map[string]any{"name": w.name, "address": "127.0.0.1", "services": []map[string]any{
			{"kind": "nginx", "port": w.ngx.Port, "settings": map[string]string{
				"config_dir": w.ngx.ConfDir, "main_config": w.ngx.MainConfig, "pid_file": w.ngx.PidFile}},
			{"kind": "sqlite"},
		}}, &srv); code != 201 {
			t.Fatalf("create server %s: %d", w.name, code)
		}
		s.waitTask(srv.Task.ID)
		dir := staticPlatform(t, "served by "+w.name)
		testharness.WebReachable(t, filepath.Join(dir, "public"))
		var plat struct {
			Platform struct{ ID string } `json:"platform"`
			Task     task                `json:"task"`
		}
		if code := s.call("POST", "/platforms", map[string]any{"name": "static-" + w.name, "path": dir, "web_server": w.name, "type": "static"}, &plat); code != 201 {
			t.Fatalf("create platform on %s: %d", w.name, code)
		}
		s.waitTask(plat.Task.ID)
		platforms[w.name], dirs[w.name] = plat.Platform.ID, dir
	}
	const host = "move.example.test"
	var site struct {
		Site struct{ ID string } `json:"site"`
		Task task                `json:"task"`
	}
	if code := s.call("POST", "/sites", map[string]any{"domain": host, "platform": "static-web1", "db_server": "web1", "client": "acme"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	s.waitTask(site.Task.ID)

	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	get := func() (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+traefik.Addr+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, strings.TrimSpace(string(b)), err
	}
	waitFor := func(what string, limit time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > limit {
				t.Fatalf("%s: not within %s", what, limit)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitFor("Traefik routes the site to web1", 30*time.Second, func() bool {
		code, body, err := get()
		return err == nil && code == 200 && body == "served by web1"
	})

	// Requests every 10ms through the move and the release after it.
	var total, failed, onWeb2 atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			total.Add(1)
			code, body, err := get()
			switch {
			case err == nil && code == 200 && body == "served by web1":
			case err == nil && code == 200 && body == "served by web2":
				onWeb2.Add(1)
			default:
				failed.Add(1)
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: %d %q %v", time.Now().Format("15:04:05.000"), code, body, err))
				mu.Unlock()
			}
		}
	})
	defer func() { // a failed assertion below still stops the loop
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	waitFor("requests flowing", 10*time.Second, func() bool { return total.Load() >= 20 })

	oldVhosts := func() []string {
		m, _ := filepath.Glob(filepath.Join(web1.ConfDir, "*.conf"))
		return m
	}
	if len(oldVhosts()) == 0 {
		t.Fatal("no vhost on web1 before the move")
	}
	start := time.Now()
	mig := s.siteTask(site.Site.ID, "migrate", map[string]string{"platform_id": platforms["web2"]})
	if !strings.Contains(mig.Summary, "once the router no longer sends the site there") {
		t.Errorf("migrate summary %q does not say the old place waits for the router", mig.Summary)
	}
	// The moved copy says where it is served from, so the loop can count
	// the requests web2 answers.
	markServer(t, filepath.Join(dirs["web2"], "sites", host, "public", "index.html"), "served by web2\n")
	// The old place still serves: its vhost is there until the release.
	if len(oldVhosts()) == 0 {
		t.Error("web1's vhost was removed with the migrate, before the router moved the site")
	}
	var tasks struct {
		Items []task `json:"items"`
	}
	var release task
	waitFor("release-old-place queued", 10*time.Second, func() bool {
		s.call("GET", "/tasks?target_id="+site.Site.ID+"&type=release-old-place", nil, &tasks)
		if len(tasks.Items) == 1 {
			release = tasks.Items[0]
		}
		return len(tasks.Items) == 1
	})
	release = s.waitTask(release.ID)
	released := time.Since(start)
	if len(oldVhosts()) != 0 {
		t.Errorf("web1 still has vhosts after the release: %v", oldVhosts())
	}
	if old := filepath.Join(dirs["web1"], "sites", host); exists(old) {
		t.Errorf("the old site directory %s is still there", old)
	}
	t.Logf("migrate → old place released in %s: %s", released.Round(10*time.Millisecond), release.Summary)
	// The loop goes on past the release: web2 alone answers.
	n := total.Load()
	waitFor("requests after the release", 10*time.Second, func() bool { return total.Load() >= n+100 })
	close(stop)
	wg.Wait()
	t.Logf("%d requests through Traefik during the move, %d answered by web2, %d failed", total.Load(), onWeb2.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the move:\n%s", failed.Load(), total.Load(), strings.Join(failures, "\n"))
	}
	if onWeb2.Load() < 100 {
		t.Fatalf("only %d requests reached web2 after the move", onWeb2.Load())
	}
	if code, body, err := get(); err != nil || code != 200 || body != "served by web2" {
		t.Fatalf("after the move: %d %q %v", code, body, err)
	}
}

// opsTraefik renders ops/traefik/traefik.yml with its addresses moved to
// the test's.
func opsTraefik(consulAddr string) func(web, api string) ([]byte, error) {
	return func(web, api string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join("..", "..", "ops", "traefik", "traefik.yml"))
		if err != nil {
			return nil, err
		}
		s := string(b)
		for _, r := range [][2]string{
			{`address: ":80"`, `address: "` + web + `"`},
			{`address: "127.0.0.1:8081"`, `address: "` + api + `"`},
			{`address: "127.0.0.1:8500"`, `address: "` + consulAddr + `"`},
			{"accessLog: {}", ""},
		} {
			if strings.Count(s, r[0]) != 1 {
				return nil, fmt.Errorf("ops/traefik/traefik.yml: want %q once", r[0])
			}
			s = strings.Replace(s, r[0], r[1], 1)
		}
		return []byte(s), nil
	}
}

// markServer replaces the file at path with body atomically, keeping its
// owner and mode (the site's user and group can still read it).
func markServer(t *testing.T, path, body string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(tmp, int(st.Uid), int(st.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(tmp, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
