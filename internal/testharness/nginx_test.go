package testharness

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNginxWithPHPFPM(t *testing.T) {
	t.Parallel()
	n := Nginx(t)
	f := PHPFPM(t)

	root := t.TempDir()
	WebReachable(t, root) // workers run as www-data
	if err := os.WriteFile(filepath.Join(root, "index.php"), []byte(`<?php echo "php says ", $_SERVER["AEGIR_SITE_DIR"] ?? "-", "\n";`), 0o644); err != nil {
		t.Fatal(err)
	}
	vhost := fmt.Sprintf(`server {
	listen %s;
	server_name harness.test;
	root %s;
	location / {
		fastcgi_pass unix:%s;
		fastcgi_param SCRIPT_FILENAME $document_root/index.php;
		fastcgi_param REQUEST_METHOD $request_method;
		fastcgi_param AEGIR_SITE_DIR "/srv/x";
	}
}
`, n.Addr, root, f.Socket)
	if err := os.WriteFile(filepath.Join(n.ConfDir, "harness.test.conf"), []byte(vhost), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(n.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, code := get(t, n.Addr, "harness.test")
		if code == 200 && strings.Contains(body, "php says /srv/x") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d %q; nginx log:\n%s", code, body, n.ErrorLogTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, code := get(t, n.Addr, "other.test"); code != 404 {
		t.Fatalf("default server answered %d, want 404", code)
	}

	n.Stop(t)
	n.Start(t)
	if body, code := get(t, n.Addr, "harness.test"); code != 200 {
		t.Fatalf("after restart: %d %q", code, body)
	}
}

func get(t *testing.T, addr, host string) (string, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = host
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}
