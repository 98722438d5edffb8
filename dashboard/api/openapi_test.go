package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes walks the routes Fiber actually registered and
// checks each /api/v1 route and method is in the OpenAPI document, and that
// the document describes no route the app does not serve.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res, body := b.do("GET", "/api/v1/openapi.json", "", "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("openapi.json: %d %s", res.StatusCode, body)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
		Comps   struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	decodeJSON(t, body, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}

	served := map[string]bool{}
	for _, r := range b.srv.App().GetRoutes(true) {
		if !strings.HasPrefix(r.Path, Prefix+"/") || r.Method == "HEAD" {
			continue
		}
		key := strings.ToLower(r.Method) + " " + openAPIPath(r.Path)
		served[key] = true
		p, ok := doc.Paths[openAPIPath(r.Path)]
		if !ok {
			t.Errorf("route %s %s is not in openapi.json", r.Method, r.Path)
			continue
		}
		if _, ok := p[strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s: method missing in openapi.json", r.Method, r.Path)
		}
	}
	var documented []string
	for path, methods := range doc.Paths {
		for m := range methods {
			documented = append(documented, m+" "+path)
			if !served[m+" "+path] {
				t.Errorf("openapi.json documents %s %s, which the app does not serve", m, path)
			}
		}
	}
	if len(documented) < 40 {
		t.Errorf("only %d operations documented", len(documented))
	}
	// Every $ref points at a schema that exists.
	for _, ref := range refs(body) {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if _, ok := doc.Comps.Schemas[name]; !ok {
			t.Errorf("dangling $ref %s", ref)
		}
	}
	// Stored secrets are cleared from answers, so not described either.
	for _, hidden := range []string{"password_hash", `"hash"`} {
		if strings.Contains(string(body), hidden) {
			t.Errorf("openapi.json describes %s", hidden)
		}
	}
	if !slices.Contains(documented, "post /api/v1/tokens") {
		t.Error("POST /tokens not documented")
	}
}

func refs(doc []byte) []string {
	var out []string
	s := string(doc)
	for {
		i := strings.Index(s, `"$ref": "`)
		if i < 0 {
			return out
		}
		s = s[i+9:]
		out = append(out, s[:strings.IndexByte(s, '"')])
	}
}

// TestOpenAPISaysWhichFieldsAreAdminOnly: the schema tells a client which
// fields a client user's answers leave out.
func TestOpenAPISaysWhichFieldsAreAdminOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, body := b.do("GET", "/api/v1/openapi.json", "", "", nil)
	var doc struct {
		Comps struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Description string `json:"description"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	decodeJSON(t, body, &doc)
	for _, f := range []string{"Platform.path", "Server.address", "Service.settings"} {
		schema, field, _ := strings.Cut(f, ".")
		p, ok := doc.Comps.Schemas[schema].Properties[field]
		if !ok {
			t.Errorf("%s is not in the document", f)
			continue
		}
		if !strings.HasPrefix(p.Description, "Admin only") {
			t.Errorf("%s: description %q does not say it is admin only", f, p.Description)
		}
	}
	if d := doc.Comps.Schemas["Platform"].Properties["name"].Description; d != "" {
		t.Errorf("Platform.name has description %q", d)
	}
}
