package routing

import (
	"slices"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/testharness"
)

func TestTags(t *testing.T) {
	t.Parallel()
	id := domain.NewID()
	n := "aegir-" + id
	tests := []struct {
		name string
		in   Instance
		o    TagOptions
		want []string
	}{
		{"aliases served", Instance{SiteID: id, Domain: "example.com", Aliases: []string{"www.example.com", "example.net"}}, TagOptions{}, []string{
			"aegir",
			"traefik.enable=true",
			"traefik.http.routers." + n + ".rule=Host(`example.com`) || Host(`example.net`) || Host(`www.example.com`)",
			"traefik.http.routers." + n + ".service=" + n,
			"traefik.http.services." + n + ".loadbalancer.passhostheader=true",
		}},
		{"aliases redirect, TLS", Instance{SiteID: id, Domain: "example.com", Aliases: []string{"www.example.com"}, RedirectAliases: true},
			TagOptions{Prefix: "edge", EntryPoints: []string{"websecure"}, CertResolver: "le"}, []string{
				"aegir",
				"edge.enable=true",
				"edge.http.routers." + n + ".rule=Host(`example.com`)",
				"edge.http.routers." + n + ".service=" + n,
				"edge.http.routers." + n + ".entrypoints=websecure",
				"edge.http.routers." + n + ".tls=true",
				"edge.http.routers." + n + ".tls.certresolver=le",
				"edge.http.routers." + n + "-alias.rule=Host(`www.example.com`)",
				"edge.http.routers." + n + "-alias.service=" + n,
				"edge.http.routers." + n + "-alias.entrypoints=websecure",
				"edge.http.routers." + n + "-alias.tls=true",
				"edge.http.routers." + n + "-alias.tls.certresolver=le",
				"edge.http.routers." + n + "-alias.middlewares=" + n + "-redirect",
				"edge.http.middlewares." + n + "-redirect.redirectregex.regex=^(https?)://[^/]+(.*)$",
				"edge.http.middlewares." + n + "-redirect.redirectregex.replacement=${1}://example.com${2}",
				"edge.http.middlewares." + n + "-redirect.redirectregex.permanent=true",
				"edge.http.services." + n + ".loadbalancer.passhostheader=true",
			}},
		{"HTTPS passed through", Instance{SiteID: id, Domain: "example.com", Aliases: []string{"www.example.com"}, TLSPort: 8443},
			TagOptions{TLSEntryPoints: []string{"websecure"}}, []string{
				"aegir",
				"traefik.enable=true",
				"traefik.http.routers." + n + ".rule=Host(`example.com`) || Host(`www.example.com`)",
				"traefik.http.routers." + n + ".service=" + n,
				"traefik.http.services." + n + ".loadbalancer.passhostheader=true",
				"traefik.tcp.routers." + n + "-tls.rule=HostSNI(`example.com`) || HostSNI(`www.example.com`)",
				"traefik.tcp.routers." + n + "-tls.tls.passthrough=true",
				"traefik.tcp.routers." + n + "-tls.service=" + n + "-tls",
				"traefik.tcp.routers." + n + "-tls.entrypoints=websecure",
				"traefik.tcp.services." + n + "-tls.loadbalancer.server.port=8443",
			}},
		{"redirect without aliases", Instance{SiteID: id, Domain: "example.com", RedirectAliases: true}, TagOptions{}, []string{
			"aegir",
			"traefik.enable=true",
			"traefik.http.routers." + n + ".rule=Host(`example.com`)",
			"traefik.http.routers." + n + ".service=" + n,
			"traefik.http.services." + n + ".loadbalancer.passhostheader=true",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Tags("aegir", tc.in, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Tags =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestTagsRejectUncheckedInput(t *testing.T) {
	t.Parallel()
	id := domain.NewID()
	tests := []struct {
		name string
		in   Instance
		o    TagOptions
	}{
		{"bad id", Instance{SiteID: "X.Y", Domain: "example.com"}, TagOptions{}},
		{"backtick in domain", Instance{SiteID: id, Domain: "a`) || Host(`b.com"}, TagOptions{}},
		{"uppercase domain", Instance{SiteID: id, Domain: "Example.com"}, TagOptions{}},
		{"rule in alias", Instance{SiteID: id, Domain: "example.com", Aliases: []string{"x.com`) || PathPrefix(`/"}}, TagOptions{}},
		{"alias is domain", Instance{SiteID: id, Domain: "example.com", Aliases: []string{"example.com"}}, TagOptions{}},
		{"bad entry point", Instance{SiteID: id, Domain: "example.com"}, TagOptions{EntryPoints: []string{"web,admin"}}},
		{"bad resolver", Instance{SiteID: id, Domain: "example.com"}, TagOptions{CertResolver: "le=x"}},
		{"bad prefix", Instance{SiteID: id, Domain: "example.com"}, TagOptions{Prefix: "a.b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tags, err := Tags("aegir", tc.in, tc.o); err == nil {
				t.Fatalf("Tags accepted it: %q", tags)
			}
		})
	}
}

func TestNodeIDStable(t *testing.T) {
	t.Parallel()
	a, b := domain.NewID(), domain.NewID()
	if NodeID(a) != NodeID(a) || NodeID(a) == NodeID(b) || len(NodeID(a)) != 36 {
		t.Fatalf("NodeID %q %q", NodeID(a), NodeID(b))
	}
}

// FuzzTags: whatever the domain and aliases, Tags either refuses them or
// builds rules that hold nothing but Host(`name`) terms of plain names.
func FuzzTags(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s, s, false)
		f.Add("example.com", s, true)
	}
	id := domain.NewID()
	for _, s := range []string{"example.com", "www.example.com", "a`) || Host(`b", "xn--bcher-kva.example", "EXAMPLE.com", "é.com", "a..b", "-a.com", "a.com\n"} {
		f.Add(s, "alias."+s, false)
		f.Add(s, "", true)
	}
	f.Fuzz(func(t *testing.T, d, alias string, redirect bool) {
		in := Instance{SiteID: id, Domain: d, RedirectAliases: redirect}
		if alias != "" {
			in.Aliases = []string{alias}
		}
		tags, err := Tags("aegir", in, TagOptions{})
		if err != nil {
			return
		}
		for _, tag := range tags {
			k, v, _ := strings.Cut(tag, "=")
			if !strings.HasSuffix(k, ".rule") {
				continue
			}
			for _, term := range strings.Split(v, " || ") {
				name, ok := strings.CutPrefix(term, "Host(`")
				name, ok2 := strings.CutSuffix(name, "`)")
				if !ok || !ok2 || strings.ContainsFunc(name, func(r rune) bool {
					return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-')
				}) {
					t.Fatalf("rule term %q from domain %q alias %q", term, d, alias)
				}
			}
		}
	})
}
