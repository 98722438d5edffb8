package provision

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// TestSiteUserName: names are valid Unix names of at most 32 bytes, stable,
// and different for domains that read alike.
func TestSiteUserName(t *testing.T) {
	seen := map[string]string{}
	for _, d := range []string{"example.com", "example-com", "a.b", "a-b", "xn--bcher-kva.example",
		"a-very-long-subdomain-name.of.an.example.com", "a-very-long-subdomain-name.of.another.example.com", "1.example"} {
		n, err := SiteUserName(d)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if err := servicekind.UnixName(n); err != nil || len(n) > 32 || !strings.HasPrefix(n, "ae-") {
			t.Errorf("%s: name %q (%v)", d, n, err)
		}
		if o, ok := seen[n]; ok {
			t.Errorf("%s and %s share the user %s", d, o, n)
		}
		seen[n] = d
		if again, _ := SiteUserName(d); again != n {
			t.Errorf("%s: %q then %q", d, n, again)
		}
	}
	if _, err := SiteUserName(""); !errors.Is(err, ErrSiteUser) {
		t.Errorf("empty domain: %v", err)
	}
}

// TestClientHosts: loopback for the same server, a socket or a loopback
// address; the web server's address otherwise; never a wildcard.
func TestClientHosts(t *testing.T) {
	web := &ServerInfo{ID: "w", Name: "web1", Address: "10.0.0.5"}
	conn := func(srvID, addr string, settings map[string]string) *dbConn {
		return &dbConn{svc: &ServiceInfo{Kind: domain.KindMariaDB, Settings: settings}, srv: &ServerInfo{ID: srvID, Name: "db1", Address: addr}}
	}
	for _, c := range []struct {
		name string
		web  *ServerInfo
		db   *dbConn
		want []string
	}{
		{"same server", &ServerInfo{ID: "s", Address: "10.0.0.5"}, conn("s", "10.0.0.5", nil), loopbackHosts},
		{"loopback db", web, conn("d", "127.0.0.1", nil), loopbackHosts},
		{"socket", web, conn("d", "10.0.0.9", map[string]string{"socket": "/run/mysqld/mysqld.sock"}), loopbackHosts},
		{"remote", web, conn("d", "10.0.0.9", nil), []string{"10.0.0.5"}},
		{"sqlite", web, &dbConn{svc: &ServiceInfo{Kind: domain.KindSQLite}, srv: &ServerInfo{ID: "d"}}, nil},
	} {
		got, err := clientHosts(c.web, c.db)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	for _, addr := range []string{"%", "10.0.0.%", "a_b", ""} {
		if got, err := clientHosts(&ServerInfo{ID: "w", Address: addr}, conn("d", "10.0.0.9", nil)); err == nil {
			t.Errorf("web address %q: %q, want an error", addr, got)
		}
	}
}
