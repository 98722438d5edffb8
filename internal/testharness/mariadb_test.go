package testharness

import (
	"strings"
	"testing"
)

func TestMariaDB(t *testing.T) {
	t.Parallel()
	m := MariaDB(t)
	if got := m.Query(t, "SELECT 1"); got != "1" {
		t.Fatalf("SELECT 1 = %q", got)
	}
	m.Query(t, "CREATE DATABASE site1; CREATE TABLE site1.t (v TEXT); INSERT INTO site1.t VALUES ('kept')")
	m.Stop(t)
	if _, err := m.socketQuery("SELECT 1"); err == nil {
		t.Fatalf("query answered after Stop")
	}
	m.Start(t)
	if got := m.Query(t, "SELECT v FROM site1.t"); got != "kept" {
		t.Fatalf("after restart got %q, want kept", got)
	}
	if !strings.Contains(m.DSN("site1"), "@tcp("+m.Addr+")/site1") {
		t.Fatalf("DSN = %q", m.DSN("site1"))
	}
}
