package app

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpAndTypos: a bare "aegir server" shows the server noun's verbs
// and exits 2 without starting anything; "aegir server run" reaches the
// production server's flags; help on an unknown word and a mistyped
// command exit 2 naming what was probably meant.
func TestHelpAndTypos(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		code      int
		out, errs []string // in stdout, in stderr
	}{
		{args: []string{"server"}, code: 2, errs: []string{"Usage: aegir server <verb>", "aegir server run", "edit"}},
		{args: []string{"server", "run", "-h"}, code: 0, errs: []string{"-config", "-data-dir"}},
		{args: []string{"server", "-h"}, code: 0, errs: []string{"-config"}},
		{args: []string{"help", "sitee"}, code: 2, errs: []string{`no help for "sitee" (did you mean "site"?)`}},
		{args: []string{"help", "nothing-like-it"}, code: 2, errs: []string{`no help for "nothing-like-it"`}},
		{args: []string{"help", "dev"}, code: 0, out: []string{"Process roles"}},
		{args: []string{"help", "server"}, code: 0, out: []string{"Usage: aegir server <verb>"}},
		{args: []string{"sites", "list"}, code: 2, errs: []string{`unknown command "sites" (did you mean "site"?)`}},
		{args: []string{"help", "admin"}, code: 0, out: []string{"Usage: aegir admin <command>", "export", "import", "rebuild"}},
		{args: []string{"admin"}, code: 2, errs: []string{"Usage: aegir admin <command>"}},
		{args: []string{"admin", "exprot"}, code: 2, errs: []string{`aegir admin: unknown command "exprot"`}},
		{args: []string{"admin", "import", "-key-file", "/nonexistent/key"}, code: 2, errs: []string{"read the key file"}},
		{args: []string{"servr", "list"}, code: 2, errs: []string{`(did you mean "server"?)`}},
		{args: []string{"provison"}, code: 2, errs: []string{`(did you mean "provision"?)`}},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, strings.NewReader(""), &stdout, &stderr)
		if code != tc.code {
			t.Errorf("aegir %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, &stdout, &stderr)
			continue
		}
		for _, want := range tc.out {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("aegir %s: stdout lacks %q:\n%s", strings.Join(tc.args, " "), want, &stdout)
			}
		}
		for _, want := range tc.errs {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("aegir %s: stderr lacks %q:\n%s", strings.Join(tc.args, " "), want, &stderr)
			}
		}
	}
}

// TestDevBusyPort: "aegir dev" on a port in use fails saying so, and never
// first says it is running.
func TestDevBusyPort(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	sites, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sitesAddr := sites.Addr().String()
	sites.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"dev", "-data-dir", filepath.Join(t.TempDir(), "data"),
		"-http-addr", busy.Addr().String(), "-sites-addr", sitesAddr, "-log-level", "error"}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, &stdout, &stderr)
	}
	if strings.Contains(stdout.String(), "is running") {
		t.Errorf("said it is running on a busy port:\n%s", &stdout)
	}
	if !strings.Contains(stderr.String(), "is another aegir running?") {
		t.Errorf("stderr does not say the port is busy:\n%s", &stderr)
	}
}
