package app

import (
	"bytes"
	"context"
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
