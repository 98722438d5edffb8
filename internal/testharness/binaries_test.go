package testharness

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestBinPathPrefersCache(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("AEGIR_AGENT_CACHE", cache)
	t.Setenv("PATH", t.TempDir())
	if _, err := BinPath("nomad"); !errors.Is(err, ErrBinaryNotFound) {
		t.Fatalf("BinPath with empty cache: err = %v, want ErrBinaryNotFound", err)
	}
	want := filepath.Join(cache, "nomad-"+NomadVersion, "nomad")
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := BinPath("nomad")
	if err != nil || got != want {
		t.Fatalf("BinPath = %q, %v; want %q", got, err, want)
	}
}

func TestFreePortDistinct(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("FreePort returned %d twice", p)
		}
		seen[p] = true
	}
}
