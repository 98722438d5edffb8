package webnginx

import (
	"bytes"
	"embed"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/platform"
)

//go:embed vhost.conf.tmpl
var tmplFS embed.FS

var vhostTmpl = template.Must(template.ParseFS(tmplFS, "vhost.conf.tmpl"))

// vhost is the validated, template-ready form of a provision.WebSite. Every
// string in it has passed an allow-list that excludes whitespace, quotes,
// ';', '{', '}', '$', '#' and '\', so no value can end a directive or open
// a block in the rendered file.
type vhost struct {
	Domain    string
	Names     []string // server_name of the main block: Domain, plus aliases unless they redirect
	Redirects []string // aliases that answer 301 to Domain
	Listen    string   // "127.0.0.1:8080" or "8080"
	Docroot   string
	Disabled  bool
	PHP       bool
	FastCGI   string // "unix:/run/php.sock" or "127.0.0.1:9000"
	Upstream  string // "http://127.0.0.1:8081"
	Params    []param
	// Snippet is the platform's nginx snippet, placed verbatim in the
	// server block: it is the one field not held to the allow-list above,
	// and passes platform.CheckNginxSnippet (allowed directives only,
	// balanced blocks, root and alias inside the platform) instead.
	Snippet     string
	SnippetFrom string   // the platform directory, for the comment above it
	Deny        []string // URL paths (from the docroot) answering 403: the site's settings

	// ChallengeDir answers /.well-known/acme-challenge/ over HTTP.
	ChallengeDir string
	// TLS adds HTTPS server blocks listening on HTTPSListen with the
	// certificate files; RedirectHTTPS makes the HTTP block answer 301 to
	// HTTPS (HTTPSPortSuffix is ":port" unless 443); HSTS sends
	// Strict-Transport-Security over HTTPS.
	TLS             bool
	HTTPSListen     string
	HTTPSPortSuffix string
	CertFile        string
	KeyFile         string
	RedirectHTTPS   bool
	HSTS            bool
}

// tlsFiles are where a site's certificate and key are written.
type tlsFiles struct {
	listen   listenSpec
	cert     string
	key      string
	certsDir string
}

type param struct{ Name, Value string }

// listenSpec is where vhosts listen: an IP literal and a port, or only a
// port (all addresses).
type listenSpec struct {
	Addr netip.Addr // invalid: all addresses
	Port int
}

func (l listenSpec) String() string {
	if !l.Addr.IsValid() {
		return strconv.Itoa(l.Port)
	}
	return netip.AddrPortFrom(l.Addr, uint16(l.Port)).String()
}

// buildVhost validates every field of s and returns the template data.
// defaultFastCGI is the service's php_fastcgi setting, used when a PHP site
// names no upstream of its own.
func buildVhost(s provision.WebSite, listen listenSpec, defaultFastCGI string, tf *tlsFiles) (*vhost, error) {
	d, err := domain.NormalizeDomain(s.Domain)
	if err != nil {
		return nil, err
	}
	v := &vhost{Domain: d, Listen: listen.String(), Disabled: s.Disabled}
	if s.ChallengeDir != "" {
		if err := domain.ValidatePath("challenge_dir", s.ChallengeDir, nil); err != nil {
			return nil, err
		}
		v.ChallengeDir = s.ChallengeDir
	}
	if s.TLS != nil && tf != nil {
		v.TLS, v.HTTPSListen, v.CertFile, v.KeyFile = true, tf.listen.String(), tf.cert, tf.key
		// A disabled site answers its 503 on both (the back end checks
		// it over HTTP).
		v.RedirectHTTPS, v.HSTS = s.TLS.Redirect && !s.Disabled, s.TLS.HSTS
		if tf.listen.Port != 443 {
			v.HTTPSPortSuffix = ":" + strconv.Itoa(tf.listen.Port)
		}
	}
	if len(s.Aliases) > domain.MaxAliases {
		return nil, domain.Invalid("aliases", "has %d names, at most %d are allowed", len(s.Aliases), domain.MaxAliases)
	}
	seen := map[string]bool{d: true}
	var aliases []string
	for _, a := range s.Aliases {
		n, err := domain.NormalizeDomain(a)
		if err != nil {
			return nil, domain.Invalid("aliases", "alias %v", err)
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		aliases = append(aliases, n)
	}
	sort.Strings(aliases)
	v.Names = []string{d}
	if s.RedirectAliases {
		v.Redirects = aliases
	} else {
		v.Names = append(v.Names, aliases...)
	}
	if s.Disabled {
		return v, nil
	}

	switch {
	case s.Upstream != "":
		if s.PHP {
			return nil, domain.Invalid("upstream", "a site is proxied to an HTTP upstream or served by PHP, not both")
		}
		u, err := parseHTTPUpstream(s.Upstream)
		if err != nil {
			return nil, err
		}
		v.Upstream = u
	default:
		if err := domain.ValidatePath("docroot", s.Docroot, nil); err != nil {
			return nil, err
		}
		v.Docroot = s.Docroot
		deny, err := denyLocations(s.Docroot, s.Deny)
		if err != nil {
			return nil, err
		}
		v.Deny = deny
	}
	if s.PHP {
		up := s.FastCGI
		if up == "" {
			up = defaultFastCGI
		}
		if up == "" {
			return nil, domain.Invalid("fastcgi", "is empty: set the nginx service's php_fastcgi setting to the php-fpm socket (unix:/run/php/php-fpm.sock) or 127.0.0.1:9000")
		}
		fc, err := ParseFastCGI(up)
		if err != nil {
			return nil, err
		}
		v.PHP = true
		v.FastCGI = fc
	}
	names := make([]string, 0, len(s.Env))
	for k := range s.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := validParamName(k); err != nil {
			return nil, err
		}
		if err := validParamValue(k, s.Env[k]); err != nil {
			return nil, err
		}
		v.Params = append(v.Params, param{k, s.Env[k]})
	}
	if len(v.Params) > 0 && !v.PHP {
		return nil, domain.Invalid("env", "is only passed to PHP (FastCGI params); this site is not a PHP site")
	}
	if s.NginxSnippet != "" {
		if s.Upstream != "" {
			return nil, domain.Invalid("nginx_snippet", "cannot go with a proxied site")
		}
		if err := domain.ValidatePath("platform dir", s.PlatformDir, nil); err != nil {
			return nil, err
		}
		if err := platform.CheckNginxSnippet(s.NginxSnippet, s.PlatformDir); err != nil {
			return nil, domain.Invalid("nginx_snippet", "of %s: %v", s.PlatformDir, err)
		}
		v.Snippet = strings.TrimRight(s.NginxSnippet, "\n")
		v.SnippetFrom = s.PlatformDir
	}
	return v, nil
}

// render writes the vhost file's content.
func (v *vhost) render() ([]byte, error) {
	var b bytes.Buffer
	if err := vhostTmpl.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("render vhost for %s: %w", v.Domain, err)
	}
	return b.Bytes(), nil
}

// ParseFastCGI checks a php-fpm upstream and returns it in nginx's
// fastcgi_pass form: "unix:/abs/path" (a clean absolute path of safe
// characters) or an IP literal and port ("127.0.0.1:9000", "[::1]:9000").
// Host names are refused: they would make nginx resolve at load time.
func ParseFastCGI(s string) (string, error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		if err := domain.ValidatePath("fastcgi", p, nil); err != nil {
			return "", err
		}
		return "unix:" + p, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return "", domain.Invalid("fastcgi", "%q must be unix:/absolute/path.sock or an IP address and port like 127.0.0.1:9000", domain.Clip(s))
	}
	return ap.String(), nil
}

// parseHTTPUpstream checks an HTTP proxy upstream: http://IP:port or IP:port.
func parseHTTPUpstream(s string) (string, error) {
	hp := strings.TrimPrefix(s, "http://")
	ap, err := netip.ParseAddrPort(hp)
	if err != nil || ap.Port() == 0 {
		return "", domain.Invalid("upstream", "%q must be http://IP:port, like http://127.0.0.1:8081", domain.Clip(s))
	}
	return "http://" + ap.String(), nil
}

// validParamName allows FastCGI parameter names like AEGIR_SITE_DIR.
func validParamName(k string) error {
	if k == "" || len(k) > 64 {
		return domain.Invalid("env", "parameter name %q must be 1 to 64 characters", domain.Clip(k))
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return domain.Invalid("env", "parameter name %q may contain only A-Z, 0-9 and '_', starting with a letter or '_'", domain.Clip(k))
		}
	}
	return nil
}

// validParamValue allows values made of letters, digits and / . _ - : @ + = ,
// which covers paths, host:port pairs and simple words and excludes
// everything nginx treats specially inside a quoted string ('$', '"', '\')
// or outside one.
func validParamValue(k, v string) error {
	if len(v) > 1024 {
		return domain.Invalid("env", "value of %s is longer than 1024 characters", k)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(" /._-:@+=,", c) >= 0) {
			// Rendered inside double quotes, so a space is data.
			return domain.Invalid("env", "value of %s (%q) may contain only letters, digits, spaces and / . _ - : @ + = ,", k, domain.Clip(v))
		}
	}
	return nil
}

// denyLocations turns the files of WebSite.Deny that lie under docroot
// into the URL paths of exact-match locations that answer 403. An exact
// location wins over every prefix and regex location (the .php one too),
// and nginx matches the decoded, merged-slash URI, so "%73ettings.json"
// or "//sites/..." are refused as well. Files outside the docroot need no
// rule.
func denyLocations(docroot string, files []string) ([]string, error) {
	var out []string
	for _, f := range files {
		if err := domain.ValidatePath("deny", f, nil); err != nil {
			return nil, err
		}
		rel, ok := strings.CutPrefix(f, strings.TrimSuffix(docroot, "/")+"/")
		if !ok {
			continue
		}
		out = append(out, "/"+rel)
	}
	sort.Strings(out)
	return out, nil
}
