package dashboard

import (
	"strings"
	"testing"
)

// TestUIServerPageListsSettings: the server page lists, beside each
// service's settings box, every setting of its kind with its meaning and
// default, and under "Add a service" the settings of every kind, all from
// the kinds' descriptors in internal/servicekind.
func TestUIServerPageListsSettings(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	w := loggedIn(t, b, "admin")
	res, body := w.get(b.expand("/servers/{server}"))
	if res.StatusCode != 200 {
		t.Fatalf("GET /servers/{server}: %d", res.StatusCode)
	}
	for _, want := range []string{
		// nginx's own settings, the required ones marked and not set.
		"config_dir", "the directory of the vhost files", "main_config", "(required)", "not set",
		"web_group", "www-data",
		// mariadb's, on its service.
		"user_hosts", "dump_binary",
		// Every kind under "Add a service".
		`id="kind-postgresql"`, "socket_dir", `id="kind-sqlite"`, `id="kind-builtin"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("server page lacks %q", want)
		}
	}
}
