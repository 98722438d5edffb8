package routing

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// Instance is one site as published on one web server: what a catalog
// service instance carries.
type Instance struct {
	SiteID          string
	Domain          string
	Aliases         []string
	RedirectAliases bool
	PlatformID      string
	ClientID        string
	// ServerID and ServerName name the web server; Address and Port are
	// where its http service answers.
	ServerID   string
	ServerName string
	Address    string
	Port       int
	// TLSPort, when set, is where the web server terminates the site's
	// HTTPS with aegir's certificate (the site has HTTPS on or redirect):
	// the router passes TLS through to it by SNI, untouched.
	TLSPort int
}

// TagOptions shape the router tags.
type TagOptions struct {
	// Prefix of every router tag. Default "traefik" (Traefik's default
	// providers.consulCatalog.prefix).
	Prefix string
	// EntryPoints the routers attach to; empty means all of the router's.
	EntryPoints []string
	// CertResolver, when set, makes every router TLS with this resolver.
	CertResolver string
	// TLSEntryPoints are the entry points of the TLS passthrough routers
	// of sites with HTTPS; empty means all of the router's.
	TLSEntryPoints []string
}

func (o TagOptions) prefix() string {
	if o.Prefix == "" {
		return "traefik"
	}
	return o.Prefix
}

// ServiceIDPrefix starts the catalog service ID of every site instance:
// ServiceIDPrefix + site id.
const ServiceIDPrefix = "aegir-site-"

// ServiceID returns the catalog service ID of a site's instances (the same
// on every node: one instance per node).
func ServiceID(siteID string) string { return ServiceIDPrefix + siteID }

// SiteIDOf returns the site id in a service ID made by ServiceID.
func SiteIDOf(serviceID string) (string, bool) {
	id, ok := strings.CutPrefix(serviceID, ServiceIDPrefix)
	if !ok || !domain.ValidID(id) {
		return "", false
	}
	return id, true
}

// RouterName is the name of a site's Traefik router, service and
// middlewares: "aegir-" + the site id, which is lowercase Crockford base32
// (checked here), so the name needs no escaping in a tag key.
func RouterName(siteID string) (string, error) {
	if !domain.ValidID(siteID) {
		return "", domain.Invalid("site_id", "%q is not a site id", siteID)
	}
	return "aegir-" + siteID, nil
}

// NodeName is the catalog node aegir registers for a web server.
func NodeName(serverName string) (string, error) {
	if err := domain.ValidateName("server name", serverName); err != nil {
		return "", err
	}
	return "aegir-" + serverName, nil
}

// NodeID is a stable UUID for a server's catalog node. Traefik indexes
// health by node ID + service ID, so two nodes with no ID would mix up the
// health of one site's instances during a move.
func NodeID(serverID string) string {
	h := sha256.Sum256([]byte("aegir-node:" + serverID))
	h[6] = h[6]&0x0f | 0x50 // version 5-like, name based
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// hostName re-validates a name before it goes into a rule: the store
// normalised it already, but a tag is built from it by concatenation, so
// only the plain DNS alphabet passes.
func hostName(field, s string) (string, error) {
	n, err := domain.NormalizeDomain(s)
	if err != nil {
		return "", err
	}
	if n != s {
		return "", domain.Invalid(field, "%q is not in canonical form (%q)", s, n)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return "", domain.Invalid(field, "%q has a character a router rule must not hold", s)
		}
	}
	return n, nil
}

// hostRule is Host(`a`) || Host(`b`) ... for names already checked by
// hostName.
func hostRule(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = "Host(`" + n + "`)"
	}
	return strings.Join(parts, " || ")
}

// validEntryPoint allows Traefik entry point names of [A-Za-z0-9_-].
func validEntryPoint(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkOptions validates the tag options.
func (o TagOptions) check() error {
	if p := o.prefix(); !validEntryPoint(p) {
		return domain.Invalid("prefix", "%q must be letters, digits, '_' or '-'", p)
	}
	for _, e := range o.EntryPoints {
		if !validEntryPoint(e) {
			return domain.Invalid("entry_points", "%q must be letters, digits, '_' or '-'", e)
		}
	}
	if o.CertResolver != "" && !validEntryPoint(o.CertResolver) {
		return domain.Invalid("cert_resolver", "%q must be letters, digits, '_' or '-'", o.CertResolver)
	}
	return nil
}

// Tags returns the catalog tags that make a stock Traefik route the site:
// marker first, then, in Traefik's Consul Catalog conventions,
//
//	traefik.enable=true
//	traefik.http.routers.<name>.rule=Host(`domain`) || Host(`alias`)...
//	traefik.http.routers.<name>.service=<name>
//	traefik.http.services.<name>.loadbalancer.passhostheader=true
//
// With RedirectAliases the aliases get their own router, <name>-alias,
// whose redirectregex middleware <name>-redirect answers 301 to the same
// path on the main domain. Every name is re-validated; nothing unchecked is
// pasted into a rule.
func Tags(marker string, in Instance, o TagOptions) ([]string, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	name, err := RouterName(in.SiteID)
	if err != nil {
		return nil, err
	}
	main, err := hostName("domain", in.Domain)
	if err != nil {
		return nil, err
	}
	if len(in.Aliases) > domain.MaxAliases {
		return nil, domain.Invalid("aliases", "has %d names; at most %d are allowed", len(in.Aliases), domain.MaxAliases)
	}
	aliases := make([]string, 0, len(in.Aliases))
	for _, a := range in.Aliases {
		n, err := hostName("aliases", a)
		if err != nil {
			return nil, err
		}
		if n == main || slices.Contains(aliases, n) {
			return nil, domain.Invalid("aliases", "%q is listed twice or is the site's own domain", n)
		}
		aliases = append(aliases, n)
	}
	slices.Sort(aliases)

	p := o.prefix()
	router := func(r string) string { return p + ".http.routers." + r }
	var tags []string
	add := func(k, v string) { tags = append(tags, k+"="+v) }
	tags = append(tags, marker)
	add(p+".enable", "true")
	routerTags := func(r, rule string) {
		add(router(r)+".rule", rule)
		add(router(r)+".service", name)
		if len(o.EntryPoints) > 0 {
			add(router(r)+".entrypoints", strings.Join(o.EntryPoints, ","))
		}
		if o.CertResolver != "" {
			add(router(r)+".tls", "true")
			add(router(r)+".tls.certresolver", o.CertResolver)
		}
	}
	if in.RedirectAliases && len(aliases) > 0 {
		routerTags(name, hostRule([]string{main}))
		alias, mw := name+"-alias", name+"-redirect"
		routerTags(alias, hostRule(aliases))
		add(router(alias)+".middlewares", mw)
		m := p + ".http.middlewares." + mw + ".redirectregex"
		add(m+".regex", `^(https?)://[^/]+(.*)$`)
		add(m+".replacement", "${1}://"+main+"${2}")
		add(m+".permanent", "true")
	} else {
		routerTags(name, hostRule(append([]string{main}, aliases...)))
	}
	add(p+".http.services."+name+".loadbalancer.passhostheader", "true")
	if in.TLSPort > 0 {
		// HTTPS goes through untouched: the web server holds the
		// certificate (aegir's issuers), the router only reads SNI.
		if in.TLSPort > 65535 {
			return nil, domain.Invalid("tls_port", "%d is not a TCP port", in.TLSPort)
		}
		tcp, svc := p+".tcp.routers."+name+"-tls", p+".tcp.services."+name+"-tls"
		add(tcp+".rule", sniRule(append([]string{main}, aliases...)))
		add(tcp+".tls.passthrough", "true")
		add(tcp+".service", name+"-tls")
		if len(o.TLSEntryPoints) > 0 {
			add(tcp+".entrypoints", strings.Join(o.TLSEntryPoints, ","))
		}
		add(svc+".loadbalancer.server.port", strconv.Itoa(in.TLSPort))
	}
	return tags, nil
}

// sniRule is a Traefik TCP rule matching the SNI of any of names (each
// already checked by hostName).
func sniRule(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = "HostSNI(`" + n + "`)"
	}
	return strings.Join(parts, " || ")
}

// Meta returns the service meta of an instance.
func Meta(in Instance) map[string]string {
	return map[string]string{
		"site_id":  in.SiteID,
		"domain":   in.Domain,
		"platform": in.PlatformID,
		"client":   in.ClientID,
		"server":   in.ServerID,
	}
}

// checkAddress validates a server address and port before they are
// published.
func checkAddress(addr string, port int) error {
	if port <= 0 || port > 65535 {
		return domain.Invalid("port", "%d is not a TCP port", port)
	}
	if _, err := netip.ParseAddr(addr); err == nil {
		return nil
	}
	if addr == "localhost" {
		return nil
	}
	if _, err := hostName("address", addr); err != nil {
		return domain.Invalid("address", "%q is neither an IP address nor a host name", addr)
	}
	return nil
}

// hostPort joins an address and port for a URL.
func hostPort(addr string, port int) string {
	if ip, err := netip.ParseAddr(addr); err == nil && ip.Is6() {
		return "[" + addr + "]:" + strconv.Itoa(port)
	}
	return addr + ":" + strconv.Itoa(port)
}
