package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aegirhq/aegir/internal/testharness"
)

func setupFile(t *testing.T) *FileStore {
	t.Helper()
	s, err := OpenFile(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFileStoreRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setupFile(t)

	if _, err := s.Get(ctx, SiteDBRef("abc")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing = %v, want ErrNotFound", err)
	}
	want := map[string]string{"username": "s_abc", "password": "hunter2-very-secret"}
	if err := s.Put(ctx, SiteDBRef("abc"), want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, SiteDBRef("abc"))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Get = %v, want %v", got, want)
	}

	// A second store on the same dir (another process) reads the same key.
	s2, err := OpenFile(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Get(ctx, SiteDBRef("abc")); err != nil || got["password"] != want["password"] {
		t.Fatalf("reopened Get = %v, %v", got, err)
	}

	// The value is not on disk in clear.
	raw, err := os.ReadFile(filepath.Join(s.Dir(), fileSecrets))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "hunter2") || strings.Contains(string(raw), "s_abc") {
		t.Fatal("secrets.enc holds plaintext")
	}

	for _, name := range []string{fileSecrets, fileKey} {
		fi, err := os.Stat(filepath.Join(s.Dir(), name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(s.Dir()); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, want 0700", fi.Mode().Perm())
	}

	if err := s.Delete(ctx, SiteDBRef("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, SiteDBRef("abc")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, SiteDBRef("abc")); err != nil {
		t.Fatalf("Delete missing = %v, want nil", err)
	}
}

func TestFileStoreRefusesBadRefs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setupFile(t)
	for _, ref := range []string{"", "../x", "a/../b", "a//b", "/abs", "a/", "a b", "a\x00b", "sites/ü/db", strings.Repeat("a", MaxRefLen+1)} {
		if err := s.Put(ctx, ref, map[string]string{"k": "v"}); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("Put(%q) = %v, want ErrInvalidRef", ref, err)
		}
		if _, err := s.Get(ctx, ref); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("Get(%q) = %v, want ErrInvalidRef", ref, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), fileSecrets)); !os.IsNotExist(err) {
		t.Error("a refused Put wrote the file")
	}
}

func TestFileStoreDamage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const secret = "do-not-leak-me"

	t.Run("wrong key", func(t *testing.T) {
		t.Parallel()
		s := setupFile(t)
		if err := s.Put(ctx, "a/b", map[string]string{"password": secret}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.Dir(), fileKey), make([]byte, 32), 0o600); err != nil {
			t.Fatal(err)
		}
		s2, err := OpenFile(s.Dir())
		if err != nil {
			t.Fatal(err)
		}
		_, err = s2.Get(ctx, "a/b")
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Fatalf("Get with wrong key = %v", err)
		}
		if err := s2.Put(ctx, "a/c", map[string]string{"x": "y"}); err == nil {
			t.Fatal("Put over an undecryptable file succeeded and would have lost its secrets")
		}
	})
	t.Run("key missing", func(t *testing.T) {
		t.Parallel()
		s := setupFile(t)
		if err := s.Put(ctx, "a/b", map[string]string{"password": secret}); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(s.Dir(), fileKey))
		if _, err := OpenFile(s.Dir()); err == nil || !strings.Contains(err.Error(), "key") {
			t.Fatalf("OpenFile without key = %v", err)
		}
	})
	t.Run("key readable by others", func(t *testing.T) {
		t.Parallel()
		s := setupFile(t)
		os.Chmod(filepath.Join(s.Dir(), fileKey), 0o644)
		if _, err := OpenFile(s.Dir()); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("OpenFile with 0644 key = %v", err)
		}
	})
	t.Run("truncated file", func(t *testing.T) {
		t.Parallel()
		s := setupFile(t)
		if err := s.Put(ctx, "a/b", map[string]string{"password": secret}); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(s.Dir(), fileSecrets)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, b[:len(b)-3], 0o600)
		if _, err := s.Get(ctx, "a/b"); err == nil || strings.Contains(err.Error(), secret) {
			t.Fatalf("Get of truncated file = %v", err)
		}
	})
}

// TestFileStoreConcurrentWriters has goroutines, each with its own store
// (own lock fd), and child processes write different refs at once; every
// write must survive.
func TestFileStoreConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "secrets")
	if _, err := OpenFile(dir); err != nil {
		t.Fatal(err)
	}
	const goroutines, procs, each = 8, 4, 10

	var wg sync.WaitGroup
	errs := make(chan error, goroutines+procs)
	for g := range goroutines {
		wg.Go(func() {
			s, err := OpenFile(dir)
			if err != nil {
				errs <- err
				return
			}
			for i := range each {
				if err := s.Put(ctx, fmt.Sprintf("g%d/r%d", g, i), map[string]string{"v": strconv.Itoa(i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for p := range procs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreHelperProcess$")
			cmd.Env = append(os.Environ(), "AEGIR_SECRETS_HELPER_DIR="+dir, "AEGIR_SECRETS_HELPER_ID="+strconv.Itoa(p))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("helper %d: %v\n%s", p, err, out)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	s, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.read()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != (goroutines+procs)*each {
		t.Fatalf("%d secrets after concurrent writes, want %d", len(all), (goroutines+procs)*each)
	}
	for g := range goroutines {
		for i := range each {
			if all[fmt.Sprintf("g%d/r%d", g, i)]["v"] != strconv.Itoa(i) {
				t.Errorf("g%d/r%d lost", g, i)
			}
		}
	}
	for p := range procs {
		for i := range each {
			if all[fmt.Sprintf("p%d/r%d", p, i)]["v"] != strconv.Itoa(i) {
				t.Errorf("p%d/r%d lost", p, i)
			}
		}
	}
}

// TestFileStoreHelperProcess is a child process of
// TestFileStoreConcurrentWriters, not a test of its own.
func TestFileStoreHelperProcess(t *testing.T) {
	dir := os.Getenv("AEGIR_SECRETS_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	id := os.Getenv("AEGIR_SECRETS_HELPER_ID")
	s, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := s.Put(context.Background(), fmt.Sprintf("p%s/r%d", id, i), map[string]string{"v": strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzValidateRef(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	for _, s := range []string{"sites/abc/db", "services/x/admin", "..", "a/../b", "a//b", "/a", "a/", ".", "a/./b", "a\\b", "ü", "a.b/c-d_e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		err := ValidateRef(ref)
		if err != nil {
			if !errors.Is(err, ErrInvalidRef) {
				t.Fatalf("error %v is not ErrInvalidRef", err)
			}
			return
		}
		if len(ref) > MaxRefLen || strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") || strings.Contains(ref, "//") {
			t.Fatalf("accepted %q", ref)
		}
		for seg := range strings.SplitSeq(ref, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted dot segment in %q", ref)
			}
		}
		if filepath.Clean(ref) != ref || filepath.IsAbs(ref) {
			t.Fatalf("accepted unclean %q", ref)
		}
		for _, c := range ref {
			if c > 0x7e || c <= ' ' || c == '\\' {
				t.Fatalf("accepted %q with %q", ref, c)
			}
		}
	})
}
