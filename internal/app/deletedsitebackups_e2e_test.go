package app_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cliAs runs the built aegir binary's CLI against the dev process with
// token (another user's) and returns its exit code and output.
func (d *devProcess) cliAs(token string, args ...string) (int, string, string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, aegirBin, args...)
	cmd.Env = []string{"AEGIR_ADDR=" + d.api, "AEGIR_TOKEN=" + token, "PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		d.t.Fatalf("aegir %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestDeleteBackupsOfDeletedSite drives `aegir dev` and the aegir CLI: the
// backups of a deleted site (its final backup and an older one) are
// deleted with `aegir backup delete ID -wait`, by an admin and by a user
// of the site's client: the archives leave the disk, the records go, and
// `backup list` no longer shows them. A user of another client is told
// the backup is not found, and so is anyone for a backup that does not
// exist; nothing is deleted then.
func TestDeleteBackupsOfDeletedSite(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	d.waitPlatformsReady()

	var created struct {
		Site struct{ ID string } `json:"site"`
		Task task                `json:"task"`
	}
	if code := d.call("POST", "/sites", map[string]any{"domain": "gone.example.test", "platform": "example", "db_server": "local", "client": "default"}, &created); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	d.waitTask(created.Task.ID)
	d.mustCLI(0, "site", "backup", "gone.example.test", "-wait")
	d.mustCLI(0, "site", "delete", "gone.example.test", "-yes", "-wait")

	var mine []backupRecord
	for _, b := range d.backups() {
		if b.SiteID == created.Site.ID {
			mine = append(mine, b)
		}
	}
	if len(mine) != 2 {
		t.Fatalf("want the manual and the final backup of the deleted site, got %+v", mine)
	}
	for _, b := range mine {
		if _, err := os.Stat(b.Path); err != nil {
			t.Fatalf("archive of backup %s (%s): %v", b.ID, b.Reason, err)
		}
	}

	// A user of the site's client, and one of another client.
	d.mustCLI(0, "client", "create", "other")
	d.mustCLI(0, "user", "create", "alice", "-role", "client", "-client", "default")
	d.mustCLI(0, "user", "create", "bob", "-role", "client", "-client", "other")
	aliceTok, _ := d.mustCLI(0, "token", "create", "-name", "t", "-user", "alice", "-q")
	bobTok, _ := d.mustCLI(0, "token", "create", "-name", "t", "-user", "bob", "-q")
	aliceTok, bobTok = strings.TrimSpace(aliceTok), strings.TrimSpace(bobTok)

	// Refused, nothing deleted: another client's user (not found, as if
	// the backup did not exist), a backup that does not exist.
	for _, b := range mine {
		code, _, errOut := d.cliAs(bobTok, "backup", "delete", b.ID, "-wait")
		if code != 1 || !strings.Contains(errOut, "not found") {
			t.Errorf("bob deleting %s: exit %d, %q", b.Reason, code, errOut)
		}
	}
	code, _, errOut := d.cliCode("backup", "delete", "01j00000000000000000", "-wait")
	if code != 1 || !strings.Contains(errOut, "backup") || !strings.Contains(errOut, "not found") {
		t.Errorf("an unknown backup: exit %d, %q", code, errOut)
	}
	if len(d.backups()) != len(mine) {
		t.Fatalf("the refusals changed the backups: %+v", d.backups())
	}

	// alice deletes the older backup, the admin the final one.
	for i, who := range []string{aliceTok, d.token} {
		b := mine[len(mine)-1-i] // oldest first
		code, out, errOut := d.cliAs(who, "backup", "delete", b.ID, "-wait")
		if code != 0 || !strings.Contains(out, "delete-backup-of-deleted-site") {
			t.Fatalf("deleting backup %s (%s): exit %d\nstdout: %s\nstderr: %s", b.ID, b.Reason, code, out, errOut)
		}
		if _, err := os.Stat(b.Path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("archive of backup %s (%s) after its delete: %v", b.ID, b.Reason, err)
		}
	}
	for _, b := range d.backups() {
		if b.SiteID == created.Site.ID {
			t.Errorf("backup %s (%s) of the deleted site is still recorded", b.ID, b.Reason)
		}
	}
	out, _ := d.mustCLI(0, "backup", "list")
	for _, b := range mine {
		if strings.Contains(out, b.ID) {
			t.Errorf("backup list still shows %s:\n%s", b.ID, out)
		}
	}
	// Deleted already: not found.
	if code, _, errOut := d.cliCode("backup", "delete", mine[0].ID); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("deleting a deleted backup again: exit %d, %q", code, errOut)
	}
}

// TestDeleteBackupOfGoneServer drives `aegir dev` and the CLI: a site on a
// second server (web3, the same builtin web server) is deleted, then its
// platform and web3 itself; `aegir backup delete ID -wait` of the final
// backup then removes the record at once, as a task already succeeded on
// the gone server whose words say where the archive was, and `backup
// list` says there are none.
func TestDeleteBackupOfGoneServer(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	d.waitPlatformsReady()
	_, port, err := net.SplitHostPort(d.sites)
	if err != nil {
		t.Fatal(err)
	}
	plat := t.TempDir()
	if err := os.MkdirAll(filepath.Join(plat, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plat, "public", "index.html"), []byte("<h1>web3</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.mustCLI(0, "server", "create", "web3", "-address", "127.0.0.1", "-http", "builtin", "-http-port", port, "-db", "sqlite", "-wait")
	d.mustCLI(0, "platform", "create", "p3", "-path", plat, "-server", "web3", "-type", "static", "-wait")
	d.mustCLI(0, "site", "create", "three.example.test", "-platform", "p3", "-db-server", "web3", "-client", "default", "-wait")
	d.mustCLI(0, "site", "delete", "three.example.test", "-yes", "-wait")
	d.mustCLI(0, "platform", "delete", "p3", "-yes", "-wait")
	d.mustCLI(0, "server", "delete", "web3", "-yes")

	var final backupRecord
	for _, b := range d.backups() {
		if b.Domain == "three.example.test" {
			final = b
		}
	}
	if final.ID == "" {
		t.Fatalf("no final backup of three.example.test: %+v", d.backups())
	}
	out, _ := d.mustCLI(0, "backup", "delete", final.ID, "-wait")
	for _, want := range []string{"(delete-backup-of-deleted-site on server web3) succeeded.",
		"The server web3 that held this archive no longer exists", final.Path} {
		if !strings.Contains(out, want) {
			t.Errorf("backup delete said %q, want %q in it", out, want)
		}
	}
	for _, b := range d.backups() {
		if b.ID == final.ID {
			t.Errorf("the record of backup %s is still there", final.ID)
		}
	}
	if _, errOut := d.mustCLI(0, "backup", "list"); !strings.Contains(errOut, "No backups.") {
		t.Errorf("backup list said %q on stderr, want No backups.", errOut)
	}
}
