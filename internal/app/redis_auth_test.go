package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// TestServerOnRedisWithPassword runs aegir server against a Redis with
// requirepass: without the password it refuses to start and says what to
// set; with AEGIR_REDIS_PASSWORD_FILE two servers start and their
// dashboards count failed logins together, through Redis. The password is
// in no output.
//
// Not parallel: t.Setenv, which startServer's processes inherit.
func TestServerOnRedisWithPassword(t *testing.T) {
	consul := testharness.SharedConsul(t)
	const password = "app-redis-Pa55word"
	redis := testharness.RedisWith(t, testharness.RedisOptions{Password: password})
	prefix := testharness.UniquePrefix(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, aegirBin, "server", "-data-dir", filepath.Join(t.TempDir(), "data"),
		"-http-addr", fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t)), "-sites-addr", fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t)),
		"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", redis.Addr)
	cmd.Env = append(os.Environ(), "AEGIR_CONSUL_PREFIX="+prefix)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "password_file") {
		t.Fatalf("aegir server without the redis password: %v\n%s", err, out)
	}

	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AEGIR_REDIS_PASSWORD_FILE", pwFile)
	a := startServer(t, consul.Addr, redis.Addr, prefix, "", 2*time.Second)
	b := startServer(t, consul.Addr, redis.Addr, prefix, a.token, 2*time.Second)

	for i := range 5 {
		srv := []*serverProcess{a, b}[i%2]
		if flash := dashboardLogin(t, srv.api, "admin", "wrong password!"); !strings.Contains(flash, "Wrong name or password") {
			t.Fatalf("failure %d on %s: %s", i+1, srv.api, flash)
		}
	}
	for _, srv := range []*serverProcess{a, b} {
		if flash := dashboardLogin(t, srv.api, "admin", "wrong password!"); !strings.Contains(flash, "Too many failed logins") {
			t.Errorf("the sixth try on %s was not refused: %s", srv.api, flash)
		}
	}
	for _, srv := range []*serverProcess{a, b} {
		logs, _ := os.ReadFile(srv.logsPath)
		if strings.Contains(string(logs), password) {
			t.Errorf("the redis password is in the log of %s", srv.api)
		}
	}
	if strings.Contains(string(out), password) {
		t.Error("the redis password is in the refused server's output")
	}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// dashboardLogin logs in on the dashboard at addr as a browser would and
// returns the login page shown afterwards (with its flash message).
func dashboardLogin(t *testing.T, addr, name, password string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func() string {
		res, err := c.Get("http://" + addr + "/login")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	m := csrfField.FindStringSubmatch(get())
	if m == nil {
		t.Fatalf("no CSRF token on %s/login", addr)
	}
	res, err := c.PostForm("http://"+addr+"/login", url.Values{"name": {name}, "password": {password}, "_csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body) // the client followed the redirect
	return string(b)
}
