package control

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/archive"
	"github.com/aegirhq/aegir/internal/store"
)

var storeAll = store.SiteFilter{Limit: 1000}

// failReader fails the test when read: the request must be refused before
// its body is.
type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("the body was read")
	return 0, io.EOF
}

// staticArchive writes a site archive as a backup does, of a static site.
func staticArchive(t *testing.T) []byte {
	t.Helper()
	site := t.TempDir()
	if err := os.MkdirAll(filepath.Join(site, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(site, "public", "index.html"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "site.tar.zst")
	w, err := archive.Create(path, archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.AddTreeAndStream(context.Background(), site, archive.FilesPrefix, archive.DatabaseName, strings.NewReader("-- dump\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(archive.Manifest{SiteID: domain.NewID(), Domain: "static.example.com", PlatformType: "static", DBKind: "sqlite"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportRefusals: every refused import leaves no file and no record,
// and what can be refused before the upload is read is.
func TestImportRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	ctl, err := New(&Config{Store: b.st, ImportDir: dir, MaxImportSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	req := apiv1.SiteImport{Domain: "new.example.com", PlatformID: b.platform.ID, DBServerID: b.server.ID, Client: "acme"}
	sites, _ := b.st.ListSites(ctx, storeAll)
	for _, tc := range []struct {
		name string
		ctl  *Control
		req  apiv1.SiteImport
		body io.Reader
		want error
		msg  string
	}{
		{"no import directory", b.ctl, req, failReader{t}, ErrUnavailable, "import directory"},
		{"unknown platform", ctl, apiv1.SiteImport{Domain: "new.example.com", Platform: "nope", DBServerID: b.server.ID, Client: "acme"}, failReader{t}, domain.ErrInvalid, "nope"},
		{"bad domain", ctl, apiv1.SiteImport{Domain: "not a domain", PlatformID: b.platform.ID, DBServerID: b.server.ID, Client: "acme"}, failReader{t}, domain.ErrInvalid, "domain"},
		{"over the limit, length unknown", ctl, req, io.LimitReader(zeros{}, 5000), domain.ErrTooLarge, "max_import_mb"},
		{"empty", ctl, req, bytes.NewReader(nil), domain.ErrInvalid, "no body"},
		{"not an archive", ctl, req, strings.NewReader("hello"), domain.ErrInvalid, "not a site archive"},
		{"another platform type", ctl, req, bytes.NewReader(staticArchive(t)), domain.ErrInvalid, "static site"},
		{"a taken domain", ctl, apiv1.SiteImport{Domain: "a.example.com", PlatformID: b.platform.ID, DBServerID: b.server.ID, Client: "acme"}, failReader{t}, domain.ErrDuplicate, "a.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.ctl.Sites.Import(ctx, b.admin, tc.req, tc.body)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want %v with %q", err, tc.want, tc.msg)
			}
		})
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("refused imports left %d files", len(left))
	}
	if now, _ := b.st.ListSites(ctx, storeAll); now.Total != sites.Total {
		t.Errorf("refused imports made sites: %d, were %d", now.Total, sites.Total)
	}
	if backups, _ := b.st.ListBackups(ctx, "", nil); len(backups) != 0 {
		t.Errorf("refused imports made backup records: %v", backups)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestImportSweepsStaleUploads: an upload file an API process killed
// mid-transfer left behind is removed by the next import once nobody has
// written it for an hour; a fresh one (a transfer under way) and other
// files are kept.
func TestImportSweepsStaleUploads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	ctl, err := New(&Config{Store: b.st, ImportDir: dir, MaxImportSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := write(".upload-1.tar.zst", 2*time.Hour)
	fresh := write(".upload-2.tar.zst", time.Minute)
	imported := write("06h0000000000000000.tar.zst", 48*time.Hour)
	req := apiv1.SiteImport{Domain: "new.example.com", PlatformID: b.platform.ID, DBServerID: b.server.ID, Client: "acme"}
	if _, _, err := ctl.Sites.Import(context.Background(), b.admin, req, strings.NewReader("hello")); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("import of a non-archive: %v", err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale upload kept: %v", err)
	}
	for _, p := range []string{fresh, imported} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(p), err)
		}
	}
}
