package cli

import (
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

// TestPlatformMigrate checks the batch migrate command's usage errors (no
// API call) and the task it asks for.
func TestPlatformMigrate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	b.api.on("POST", "/platforms/"+platformID+"/tasks", 202, fixtureTask(domain.TaskMigrateSites, domain.TaskQueued))
	for _, args := range [][]string{
		{"platform", "migrate", "drupal10"},                                      // no -to
		{"platform", "migrate", "drupal10", "-to", "drupal10", "-parallel", "9"}, // out of range
		{"platform", "migrate", "-to", "drupal10"},                               // no platform
	} {
		b.run(args...).want(t, ExitUsage)
	}
	// Without -yes and no terminal: refused, nothing written.
	b.run("platform", "migrate", "drupal10", "-to", "drupal10").want(t, ExitUsage)
	if w := b.api.writes(); len(w) != 0 {
		t.Fatalf("writes without confirmation: %v", w)
	}
	b.run("platform", "migrate", "drupal10", "-to", "drupal10", "-sites", "a.example.com,b.example.com", "-parallel", "2", "-continue", "-yes").want(t, ExitOK)
	body := jsonBody(t, b.api.only("POST", "/platforms/"+platformID+"/tasks"))
	jsonEqual(t, mustJSON(body), `{"type":"migrate-sites","args":{"to_platform_id":"`+platformID+`","sites":"a.example.com,b.example.com","parallel":"2","continue":"true"}}`)
}

// TestSiteCreateFromBackup: -from-backup makes the domain optional and the
// client too, and is sent as from_backup.
func TestSiteCreateFromBackup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	b.api.on("POST", "/sites", 201, map[string]any{"site": fixtureSite(), "task": fixtureTask(domain.TaskInstall, domain.TaskQueued)})
	b.run("site", "create", "--from-backup=0000000000000000b001", "-platform", "drupal10", "-db-server", "db1").want(t, ExitOK)
	body := jsonBody(t, b.api.only("POST", "/sites"))
	if body["from_backup"] != "0000000000000000b001" || body["domain"] != nil || body["client"] != nil {
		t.Errorf("body %v", body)
	}
	b.run("site", "create", "-platform", "drupal10", "-db-server", "db1").want(t, ExitUsage)
}
