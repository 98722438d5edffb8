package testharness

import (
	"strings"
	"testing"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	p := Postgres(t)
	if got := p.Query(t, "SELECT 1"); got != "1" {
		t.Fatalf("SELECT 1 = %q", got)
	}
	p.Query(t, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')")
	p.Stop(t)
	p.Start(t)
	if got := p.Query(t, "SELECT v FROM t"); got != "kept" {
		t.Fatalf("after restart got %q, want kept", got)
	}
	if !strings.HasPrefix(p.URL("db"), "postgres://aegir_admin:") {
		t.Fatalf("URL = %q", p.URL("db"))
	}
}
