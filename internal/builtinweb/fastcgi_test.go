package builtinweb

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
)

// fakeFPM is a FastCGI responder written with net/http/fcgi: it reports
// the params and body it received, so the client's encoding is checked
// against an independent implementation.
func fakeFPM(t *testing.T, network string) string {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(shortDir(t), "fpm.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go fcgi.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env := fcgi.ProcessEnv(r)
		var keys []string
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.Header().Set("X-Fpm", "yes")
		if r.URL.Path == "/redirect.php" {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusCreated)
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "method=%s uri=%s bodylen=%d clen=%d ctype=%s\n", r.Method, r.URL.RequestURI(), len(body), r.ContentLength, r.Header.Get("Content-Type"))
		fmt.Fprintf(w, "header.X-Custom=%s header.Proxy=%q\n", r.Header.Get("X-Custom"), r.Header.Get("Proxy"))
		for _, k := range keys {
			fmt.Fprintf(w, "%s=%s\n", k, env[k])
		}
	}))
	if network == "unix" {
		return "unix:" + addr
	}
	return ln.Addr().String()
}

// shortDir is a temp dir with a short path: unix socket paths are limited
// to 108 bytes.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "bw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestFastCGI(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			phpRoot := filepath.Join(filepath.Dir(b.docroot), "php")
			writeFile(t, filepath.Join(phpRoot, "index.php"), "<?php")
			writeFile(t, filepath.Join(phpRoot, "info.php"), "<?php")
			writeFile(t, filepath.Join(phpRoot, "redirect.php"), "<?php")
			writeFile(t, filepath.Join(phpRoot, "style.css"), "css")
			writeFile(t, filepath.Join(phpRoot, "sites", "fcgi.test", "files", "evil.php"), "<?php")
			b.publish(t, provision.WebSite{Domain: "fcgi.test", Docroot: phpRoot, PHP: true, FastCGI: fakeFPM(t, network),
				Env: map[string]string{"AEGIR_SITE_DIR": "/srv/p/sites/fcgi.test", "SCRIPT_FILENAME": "/etc/passwd"}})

			res := b.raw(t, "GET", "/info.php?x=1", "fcgi.test")
			if res.code != 201 || res.header.Get("X-Fpm") != "yes" {
				t.Fatalf("info.php: %d %v %q", res.code, res.header, res.body)
			}
			for _, want := range []string{
				"uri=/info.php?x=1",
				"SCRIPT_FILENAME=" + filepath.Join(phpRoot, "info.php") + "\n",
				"DOCUMENT_ROOT=" + phpRoot + "\n",
				"AEGIR_SITE_DIR=/srv/p/sites/fcgi.test\n",
				"SERVER_NAME=fcgi.test\n",
				"REDIRECT_STATUS=200\n",
			} {
				if !strings.Contains(res.body, want) {
					t.Errorf("info.php response lacks %q:\n%s", want, res.body)
				}
			}

			// Front controller: a path that is not a file runs index.php.
			res = b.raw(t, "GET", "/node/1?page=2", "fcgi.test")
			if res.code != 201 || !strings.Contains(res.body, "uri=/node/1?page=2") || !strings.Contains(res.body, "SCRIPT_FILENAME="+filepath.Join(phpRoot, "index.php")+"\n") {
				t.Fatalf("front controller: %d %q", res.code, res.body)
			}
			// Static files of a PHP site stay static.
			if res := b.raw(t, "GET", "/style.css", "fcgi.test"); res.code != 200 || res.body != "css" {
				t.Fatalf("static on php site: %d %q", res.code, res.body)
			}
			// CGI redirect.
			if res := b.raw(t, "GET", "/redirect.php", "fcgi.test"); res.code != 302 || res.header.Get("Location") != "/elsewhere" {
				t.Fatalf("redirect: %d %v", res.code, res.header)
			}
			// A missing script is not sent upstream; uploads never run.
			if res := b.raw(t, "GET", "/nope.php", "fcgi.test"); res.code != 404 {
				t.Fatalf("missing script: %d", res.code)
			}
			if res := b.raw(t, "GET", "/sites/fcgi.test/files/evil.php", "fcgi.test"); res.code != 403 {
				t.Fatalf("php in files dir: %d", res.code)
			}
			if res := b.raw(t, "GET", "/../php/info.php/../../secret.txt", "fcgi.test"); strings.Contains(res.body, secretText) {
				t.Fatal("traversal through php path")
			}

			// POST body and headers; Proxy (httpoxy) is dropped.
			conn, err := net.Dial("tcp", b.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			body := strings.Repeat("p", 70000) // more than one STDIN record
			fmt.Fprintf(conn, "POST /info.php HTTP/1.1\r\nHost: fcgi.test\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nX-Custom: hi\r\nProxy: http://evil\r\nConnection: close\r\n\r\n%s", len(body), body)
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			gotb, _ := io.ReadAll(resp.Body)
			got := string(gotb)
			if resp.StatusCode != 201 || !strings.Contains(got, "header.X-Custom=hi header.Proxy=\"\"") || !strings.Contains(got, "bodylen=70000 clen=70000 ctype=text/plain\n") {
				t.Fatalf("POST: %d %q", resp.StatusCode, domain.Clip(got))
			}
		})
	}
}

func TestFastCGIUpstreamDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	b.publish(t, provision.WebSite{Domain: "down.test", Docroot: b.docroot, PHP: true, FastCGI: dead})
	if res := b.raw(t, "GET", "/info.php", "down.test"); res.code != 502 || strings.Contains(res.body, secretText) {
		t.Fatalf("down upstream: %d %q", res.code, res.body)
	}
}

// TestPHPFPM runs real PHP through php-fpm on the builtin server.
func TestPHPFPM(t *testing.T) {
	t.Parallel()
	fpm := testharness.PHPFPM(t)
	b := setup(t)
	phpRoot := filepath.Join(filepath.Dir(b.docroot), "php")
	writeFile(t, filepath.Join(phpRoot, "index.php"), `<?php
header("X-Php: yes");
http_response_code(202);
echo $_SERVER["AEGIR_SITE_DIR"], "|", $_SERVER["REQUEST_URI"], "|", $_SERVER["SCRIPT_NAME"], "|", file_get_contents("php://input");
`)
	testharness.WebReachable(t, phpRoot) // php-fpm's pool runs as www-data
	b.publish(t, provision.WebSite{Domain: "fpm.test", Docroot: phpRoot, PHP: true, FastCGI: "unix:" + fpm.Socket,
		Env: map[string]string{"AEGIR_SITE_DIR": "/srv/sites/fpm.test"}})
	res := b.raw(t, "GET", "/some/page?q=1", "fpm.test")
	if res.code != 202 || res.header.Get("X-Php") != "yes" || res.body != "/srv/sites/fpm.test|/some/page?q=1|/index.php|" {
		t.Fatalf("php-fpm: %d %v %q", res.code, res.header, res.body)
	}
}
