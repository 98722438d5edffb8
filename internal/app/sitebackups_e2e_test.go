package app_test

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// cliCode runs the built aegir binary's CLI against the dev process as
// the admin and returns its exit code and output (cliAs with d.token).
func (d *devProcess) cliCode(args ...string) (int, string, string) {
	d.t.Helper()
	return d.cliAs(d.token, args...)
}

// mustCLI runs the CLI and fails the test unless it exits want.
func (d *devProcess) mustCLI(want int, args ...string) (string, string) {
	d.t.Helper()
	code, out, errOut := d.cliCode(args...)
	if code != want {
		d.t.Fatalf("aegir %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

type backupRecord struct {
	ID     string `json:"id"`
	SiteID string `json:"site_id"`
	Domain string `json:"domain"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (d *devProcess) backups() []backupRecord {
	d.t.Helper()
	var l struct {
		Items []backupRecord `json:"items"`
	}
	d.call("GET", "/backups", nil, &l)
	return l.Items
}

func (d *devProcess) siteCount() int {
	var l struct {
		Total int `json:"total"`
	}
	d.call("GET", "/sites", nil, &l)
	return l.Total
}

// upload POSTs body to /sites/import?query and returns the status and the
// answer.
func (d *devProcess) upload(query string, body io.Reader) (int, string) {
	d.t.Helper()
	req, _ := http.NewRequest("POST", "http://"+d.api+"/api/v1/sites/import?"+query, body)
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := d.http.Do(req)
	if err != nil {
		d.t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// traversalArchive is a zstd-compressed tar as aegir writes them, but with
// an entry that climbs out of files/.
func traversalArchive(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	add := func(name string, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	add("files/public/index.html", []byte("hello\n"))
	add("files/../../../../tmp/aegir-import-escape", []byte("escaped\n"))
	manifest, _ := json.Marshal(map[string]any{"format": 1, "site_id": "x", "domain": "evil.example.test"})
	add("manifest.json", manifest)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSitesBackFromBackups drives `aegir dev` and the aegir CLI: a
// deleted site's backup records survive its delete, and `site create
// -from-backup` brings it back as itself (its id, its content, its older
// backups); `site import` makes a new site from an archive under a new
// domain. Refused without changing anything: a second site from the same
// backup, an import onto a taken domain, an archive with an entry that
// leaves files/, an archive over max_import_mb. A backup whose archive was
// deleted from disk fails its install saying so.
func TestSitesBackFromBackups(t *testing.T) {
	t.Parallel()
	d := startDevEnv(t, []string{"AEGIR_MAX_IMPORT_MB=1"})
	d.waitPlatformsReady()
	importDir := filepath.Join(d.dataDir, "backups", "imports")

	var created struct {
		Site struct{ ID string } `json:"site"`
		Task task                `json:"task"`
	}
	if code := d.call("POST", "/sites", map[string]any{"domain": "back.example.test", "platform": "example", "db_server": "local", "client": "default"}, &created); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	d.waitTask(created.Task.ID)
	index := filepath.Join(d.dataDir, "platforms", "example", "sites", "back.example.test", "public", "index.html")
	if err := os.WriteFile(index, []byte("content worth keeping\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.mustCLI(0, "site", "delete", "back.example.test", "-yes", "-wait")
	if code, _ := d.get("back.example.test", "/"); code != 404 {
		t.Fatalf("deleted site answers %d", code)
	}

	// The final backup's record survives the delete.
	var final backupRecord
	for _, b := range d.backups() {
		if b.SiteID == created.Site.ID && b.Reason == "pre-delete" {
			final = b
		}
	}
	if final.ID == "" {
		t.Fatalf("no pre-delete backup of the deleted site among %+v", d.backups())
	}

	// Back from it: the same site (id), its content, its backups.
	out, _ := d.mustCLI(0, "site", "create", "-from-backup", final.ID, "-platform", "example", "-db-server", "local", "-wait")
	if !strings.Contains(out, "back.example.test") {
		t.Errorf("create -from-backup said %q", out)
	}
	if code, body := d.get("back.example.test", "/"); code != 200 || !strings.Contains(body, "content worth keeping") {
		t.Fatalf("site back from its backup answers %d %q", code, body)
	}
	var back struct{ ID, Status string }
	d.call("GET", "/sites/back.example.test", nil, &back)
	if back.ID != created.Site.ID || back.Status != "enabled" {
		t.Errorf("site back from its backup: %+v, want id %s enabled", back, created.Site.ID)
	}
	out, _ = d.mustCLI(0, "site", "backups", "back.example.test")
	if !strings.Contains(out, final.ID) {
		t.Errorf("the site's backups do not list its final backup %s:\n%s", final.ID, out)
	}
	// A second site from the same backup: its site exists.
	_, errOut := d.mustCLI(1, "site", "create", "-from-backup", final.ID, "-platform", "example", "-db-server", "local")
	if !strings.Contains(errOut, "still exists") {
		t.Errorf("second create -from-backup: %q", errOut)
	}

	// Import the archive as a new site under a new domain. Beside it lie
	// two uploads cut off by a killed API process: one nobody has written
	// for two hours, which the import removes, and one written just now
	// (another import may still be writing it), which it keeps.
	if err := os.MkdirAll(importDir, 0o750); err != nil {
		t.Fatal(err)
	}
	stale, fresh := filepath.Join(importDir, ".upload-stale.tar.zst"), filepath.Join(importDir, ".upload-fresh.tar.zst")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("cut off"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	sites, nBackups := d.siteCount(), len(d.backups())
	out, _ = d.mustCLI(0, "site", "import", final.Path, "-domain", "copy.example.test", "-platform", "example", "-db-server", "local", "-client", "default", "-wait")
	if !strings.Contains(out, "copy.example.test") {
		t.Errorf("import said %q", out)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an upload nobody wrote for two hours is still there after an import (stat: %v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("an upload written just now was removed by an import: %v", err)
	}
	_ = os.Remove(fresh)
	if code, body := d.get("copy.example.test", "/"); code != 200 || !strings.Contains(body, "content worth keeping") {
		t.Fatalf("imported site answers %d %q", code, body)
	}
	if d.siteCount() != sites+1 || len(d.backups()) != nBackups+1 {
		t.Errorf("after import: %d sites, %d backups; want %d, %d", d.siteCount(), len(d.backups()), sites+1, nBackups+1)
	}
	// The imported archive is the new site's backup: it verifies and
	// restores, though its manifest names the site it was taken of.
	var imported backupRecord
	for _, b := range d.backups() {
		if b.Domain == "copy.example.test" && b.Reason == "import" {
			imported = b
		}
	}
	var copySite struct{ ID string }
	d.call("GET", "/sites/copy.example.test", nil, &copySite)
	d.siteTask(copySite.ID, "verify-backup", map[string]string{"backup_id": imported.ID})
	d.mustCLI(0, "site", "restore", "copy.example.test", "-backup", imported.ID, "-yes", "-wait")

	// Refusals that change nothing.
	sites, nBackups = d.siteCount(), len(d.backups())
	_, errOut = d.mustCLI(1, "site", "import", final.Path, "-domain", "copy.example.test", "-platform", "example", "-db-server", "local", "-client", "default")
	if !strings.Contains(errOut, "copy.example.test") {
		t.Errorf("import onto a taken domain: %q", errOut)
	}
	if code, body := d.upload("domain=evil.example.test&platform=example&db_server=local&client=default", bytes.NewReader(traversalArchive(t))); code != 400 || !strings.Contains(body, "outside files/") {
		t.Errorf("archive with a traversal entry: %d %s", code, body)
	}
	big := make([]byte, 3<<19) // 1.5 MiB, over max_import_mb = 1
	_, _ = rand.Read(big)
	if code, body := d.upload("domain=big.example.test&platform=example&db_server=local&client=default", bytes.NewReader(big)); code != 413 {
		t.Errorf("oversize archive: %d %s", code, body)
	}
	if _, err := os.Stat("/tmp/aegir-import-escape"); err == nil {
		t.Errorf("the traversal entry was written")
	}
	entries, _ := os.ReadDir(importDir)
	if len(entries) != 1 { // the one good import
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("import directory holds %v, want only the good import", names)
	}
	if nowSites, nowBackups := d.siteCount(), len(d.backups()); nowSites != sites || nowBackups != nBackups {
		t.Errorf("refused imports changed records: %d sites, %d backups; want %d, %d", nowSites, nowBackups, sites, nBackups)
	}

	// A backup whose archive is gone: the install fails and says so.
	d.mustCLI(0, "site", "delete", "copy.example.test", "-yes", "-wait")
	var gone backupRecord
	for _, b := range d.backups() {
		if b.Domain == "copy.example.test" && b.Reason == "pre-delete" {
			gone = b
		}
	}
	if gone.ID == "" {
		t.Fatal("no final backup of the imported site")
	}
	// Its domain taken since: refused at the request.
	_, errOut = d.mustCLI(1, "site", "create", "back.example.test", "-from-backup", gone.ID, "-platform", "example", "-db-server", "local")
	if !strings.Contains(errOut, "back.example.test") || !strings.Contains(errOut, "duplicate") {
		t.Errorf("create -from-backup onto a taken domain: %q", errOut)
	}
	if err := os.Remove(gone.Path); err != nil {
		t.Fatal(err)
	}
	out, errOut = d.mustCLI(1, "site", "create", "-from-backup", gone.ID, "-platform", "example", "-db-server", "local", "-wait")
	if all := out + errOut; !strings.Contains(all, "backup_missing") || !strings.Contains(all, "gone") {
		t.Errorf("create from a backup whose archive is gone:\n%s", all)
	}
}
