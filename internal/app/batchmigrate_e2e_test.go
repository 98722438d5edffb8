package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBatchMigrate drives `aegir platform migrate` on `aegir dev` with
// three sites, one of which cannot move (its directory already exists on
// the target platform): by default the batch stops at that failure, the
// site is put back and the one after it never starts; with -continue the
// others move; once the cause is gone a rerun moves the rest. Each child
// is a migrate task of its own pointing back to the batch.
func TestBatchMigrate(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	d.waitPlatformsReady()
	target := filepath.Join(d.dataDir, "platforms", "example2")
	if err := os.MkdirAll(filepath.Join(target, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "public", "index.html"), []byte("platform two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.mustCLI(0, "platform", "create", "example2", "-path", target, "-server", "local", "-type", "static", "-wait")
	sites := []string{"a.batch.test", "b.batch.test", "c.batch.test"}
	for _, s := range sites {
		d.mustCLI(0, "site", "create", s, "-platform", "example", "-db-server", "local", "-client", "default", "-wait")
	}
	// b cannot move: its directory is taken on the target.
	blocker := filepath.Join(target, "sites", "b.batch.test")
	if err := os.MkdirAll(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	platformOf := func(domain string) string {
		t.Helper()
		var site struct {
			PlatformID string `json:"platform_id"`
		}
		d.call("GET", "/sites/"+domain, nil, &site)
		var p struct{ Name string }
		d.call("GET", "/platforms/"+site.PlatformID, nil, &p)
		return p.Name
	}
	wantOn := func(when string, want map[string]string) {
		t.Helper()
		for domain, platform := range want {
			if got := platformOf(domain); got != platform {
				t.Errorf("%s: %s is on %s, want %s", when, domain, got, platform)
			}
			if code, _ := d.get(domain, "/"); code != 200 {
				t.Errorf("%s: %s answers %d", when, domain, code)
			}
		}
	}

	// Stop at the first failure (the default): a moves, b fails and is
	// put back, c never starts.
	out, errOut := d.mustCLI(1, "platform", "migrate", "example", "-to", "example2", "-yes", "-wait")
	all := out + errOut
	for _, want := range []string{"3 sites to migrate from example to example2", "1/3 migrated: a.batch.test", "b.batch.test: migrate failed",
		"1 of 3 sites migrated", "1 not started (stopped at the first failure)"} {
		if !strings.Contains(all, want) {
			t.Errorf("stop mode: output lacks %q:\n%s", want, all)
		}
	}
	t.Logf("stop mode:\n%s", all)
	wantOn("stop mode", map[string]string{"a.batch.test": "example2", "b.batch.test": "example", "c.batch.test": "example"})

	// Continue, two at once: c moves, b fails again.
	out, errOut = d.mustCLI(1, "platform", "migrate", "example", "-to", "example2", "-continue", "-parallel", "2", "-yes", "-wait")
	all = out + errOut
	for _, want := range []string{"2 sites to migrate", "migrated: c.batch.test", "1 of 2 sites migrated", "1 failed"} {
		if !strings.Contains(all, want) {
			t.Errorf("continue mode: output lacks %q:\n%s", want, all)
		}
	}
	wantOn("continue mode", map[string]string{"a.batch.test": "example2", "b.batch.test": "example", "c.batch.test": "example2"})

	// The children point back to their batch.
	var tasks struct {
		Items []struct {
			ID, Type, Parent, Status, TargetName string
		} `json:"items"`
	}
	d.call("GET", "/tasks?limit=100", nil, &tasks)
	batches, children := map[string]bool{}, 0
	for _, tk := range tasks.Items {
		if tk.Type == "migrate-sites" {
			batches[tk.ID] = true
		}
	}
	for _, tk := range tasks.Items {
		if tk.Type == "migrate" {
			if !batches[tk.Parent] {
				t.Errorf("migrate of %s has parent %q, not a batch", tk.TargetName, tk.Parent)
			}
			children++
		}
	}
	if len(batches) != 2 || children != 4 {
		t.Errorf("%d batches, %d children; want 2, 4", len(batches), children)
	}
	for id := range batches {
		var kids struct{ Total int }
		d.call("GET", "/tasks?parent="+id, nil, &kids)
		if kids.Total != 2 {
			t.Errorf("GET /tasks?parent=%s: %d children, want 2", id, kids.Total)
		}
	}

	// The cause gone, the rest moves.
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	out, _ = d.mustCLI(0, "platform", "migrate", "example", "-to", "example2", "-yes", "-wait")
	if !strings.Contains(out, "1 of 1 sites migrated") {
		t.Errorf("rerun: %s", out)
	}
	wantOn("rerun", map[string]string{"a.batch.test": "example2", "b.batch.test": "example2", "c.batch.test": "example2"})

	// Nothing left to migrate: refused at the request.
	_, errOut = d.mustCLI(1, "platform", "migrate", "example", "-to", "example2", "-yes")
	if !strings.Contains(errOut, "no installed site") {
		t.Errorf("empty platform: %s", errOut)
	}
}
