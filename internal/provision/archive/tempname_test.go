package archive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTempNameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, owner string
		ok          bool
	}{
		{TempName("/b/a.test/20260101T000000Z-x.tar.zst", "abc123", "0011aabbccdd"), "abc123", true},
		{TempName("/b/a.test/20260101T000000Z-x.tar.zst", "", "0011aabbccdd"), "", true},
		{"20260101T000000Z-x.tar.zst", "", false},
		{"notes.txt.tmp-abc-12", "", false},
		{"x.tar.zst.tmp-", "", false},
		{"x.tar.zst.tmp-abc-", "", false},
		{"x.tar.zst.tmp--12", "", false},
		{"x.tar.zst.tmp-a-b-c", "", false},
	} {
		owner, ok := ParseTempName(tc.name)
		if owner != tc.owner || ok != tc.ok {
			t.Errorf("ParseTempName(%q) = %q, %v; want %q, %v", tc.name, owner, ok, tc.owner, tc.ok)
		}
	}
}

func TestCreateNamesTheOwner(t *testing.T) {
	final := filepath.Join(t.TempDir(), "x.tar.zst")
	w, err := Create(final, Options{Owner: "task1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	entries, _ := os.ReadDir(filepath.Dir(final))
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "x.tar.zst.tmp-task1-") {
		t.Fatalf("temp file %v, want x.tar.zst.tmp-task1-<random>", entries)
	}
	if owner, ok := ParseTempName(entries[0].Name()); !ok || owner != "task1" {
		t.Fatalf("ParseTempName(%q) = %q, %v", entries[0].Name(), owner, ok)
	}
	if _, err := Create(final, Options{Owner: "a-b"}); err == nil {
		t.Fatal("an owner with '-' was accepted")
	}
}
