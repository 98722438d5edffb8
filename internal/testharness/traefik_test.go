package testharness

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTraefik starts Traefik on a Consul agent and checks that its Consul
// Catalog provider is up (the API lists it among the providers).
func TestTraefik(t *testing.T) {
	t.Parallel()
	c := Consul(t)
	tr := Traefik(t, c.Addr)
	var overview struct {
		Providers []string `json:"providers"`
	}
	if err := getJSON("http://"+tr.APIAddr+"/api/overview", &overview); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(strings.Join(overview.Providers, ",")), "consulcatalog") {
		b, _ := json.Marshal(overview)
		t.Fatalf("providers %s, want ConsulCatalog", b)
	}
}
