package dashboard

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/servicekind"
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

// TestServiceKindsAPI: GET /api/v1/service-kinds lists every kind with the
// settings its driver reads, for any signed-in user; no token is refused.
func TestServiceKindsAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res, body := b.do("GET", "/api/v1/service-kinds", b.toks["alice"], "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("GET /service-kinds: %d %s", res.StatusCode, body)
	}
	var l struct {
		Items []apiv1.ServiceKind `json:"items"`
		Total int                 `json:"total"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	if l.Total != len(servicekind.All()) || len(l.Items) != l.Total {
		t.Fatalf("%d kinds of %d, want %d", len(l.Items), l.Total, len(servicekind.All()))
	}
	if res, _ := b.do("GET", "/api/v1/service-kinds", "", "", nil); res.StatusCode != 401 {
		t.Errorf("without a token: %d", res.StatusCode)
	}
	for _, k := range l.Items {
		if k.Kind != "nginx" {
			continue
		}
		if k.Type != "http" || k.DefaultPort != 80 || len(k.Settings) == 0 || k.Settings[0].Key != "config_dir" || !k.Settings[0].Required || k.Settings[0].Meaning == "" {
			t.Errorf("nginx: %+v", k)
		}
		return
	}
	t.Errorf("no nginx among %+v", l.Items)
}
