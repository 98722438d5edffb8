package builtinweb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// maxRouteFile bounds a route file; a larger one is skipped.
const maxRouteFile = 64 << 10

// routeExt ends every route file name: <domain>.json.
const routeExt = ".json"

// ValidateSite checks every field of a site the builtin server would serve
// and returns it normalised: domain and aliases through
// domain.NormalizeDomain, docroot an absolute clean path of safe characters,
// upstreams as "http://host:port" or "unix:/path" / "host:port".
func ValidateSite(s provision.WebSite) (provision.WebSite, error) {
	d, err := domain.NormalizeDomain(s.Domain)
	if err != nil {
		return s, err
	}
	s.Domain = d
	if len(s.Aliases) > domain.MaxAliases {
		return s, domain.Invalid("aliases", "has %d names; at most %d are allowed", len(s.Aliases), domain.MaxAliases)
	}
	aliases := make([]string, 0, len(s.Aliases))
	for _, a := range s.Aliases {
		n, err := domain.NormalizeDomain(a)
		if err != nil {
			return s, domain.Invalid("aliases", "%v", err)
		}
		if n == d || slices.Contains(aliases, n) {
			return s, domain.Invalid("aliases", "%q is listed twice or is the site's own domain", n)
		}
		aliases = append(aliases, n)
	}
	s.Aliases = aliases
	if s.Upstream != "" {
		u, err := ParseUpstream(s.Upstream)
		if err != nil {
			return s, err
		}
		s.Upstream = u.String()
	}
	if s.Upstream == "" || s.Docroot != "" {
		if err := domain.ValidatePath("docroot", s.Docroot, nil); err != nil {
			return s, err
		}
	}
	if s.FastCGI != "" {
		if _, _, err := parseFastCGI(s.FastCGI); err != nil {
			return s, err
		}
	}
	if s.ChallengeDir != "" {
		if err := domain.ValidatePath("challenge_dir", s.ChallengeDir, nil); err != nil {
			return s, err
		}
	}
	for _, d := range s.Deny {
		if err := domain.ValidatePath("deny", d, nil); err != nil {
			return s, err
		}
	}
	for k, v := range s.Env {
		if !validEnvName(k) {
			return s, domain.Invalid("env", "name %q must be 1 to 64 of A-Z, 0-9 and '_', starting with a letter or '_'", domain.Clip(k))
		}
		if len(v) > 4096 || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return s, domain.Invalid("env", "value of %s is longer than 4096 characters or holds control characters", k)
		}
	}
	return s, nil
}

// ParseUpstream parses an HTTP upstream: "http://host:port[/path]" or
// "host:port" (http assumed).
func ParseUpstream(s string) (*url.URL, error) {
	raw := s
	if !strings.Contains(s, "://") {
		raw = "http://" + s
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, domain.Invalid("upstream", "%q must be http://host:port or host:port", domain.Clip(s))
	}
	if h, port, err := net.SplitHostPort(u.Host); err != nil || h == "" || !validPort(port) {
		return nil, domain.Invalid("upstream", "%q needs a port, like 127.0.0.1:8080", domain.Clip(s))
	}
	return u, nil
}

// parseFastCGI parses "unix:/path.sock" or "host:port" into a network and
// address for net.Dial.
func parseFastCGI(s string) (network, addr string, err error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		if err := domain.ValidatePath("fastcgi", p, nil); err != nil {
			return "", "", err
		}
		return "unix", p, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || !validUpstreamHost(host) || !validPort(port) {
		return "", "", domain.Invalid("fastcgi", "%q must be unix:/path.sock or host:port", domain.Clip(s))
	}
	return "tcp", s, nil
}

// validUpstreamHost allows host names and IP addresses: letters, digits,
// '.', '-', ':' (IPv6).
func validUpstreamHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':') {
			return false
		}
	}
	return true
}

func validEnvName(k string) bool {
	if k == "" || len(k) > 64 || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// readRoute reads and validates one route file. Its name must be the
// site's normalised domain plus ".json".
func readRoute(path string) (provision.WebSite, error) {
	s, _, err := readRouteStamped(path)
	return s, err
}

// fileStamp identifies one version of a route file: the driver replaces a
// file by rename, so a new version has a new inode.
type fileStamp struct {
	ino   uint64
	mtime time.Time
	size  int64
}

func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{mtime: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// readRouteStamped reads a route file and the stamp of the version read.
func readRouteStamped(path string) (provision.WebSite, fileStamp, error) {
	var s provision.WebSite
	f, err := os.Open(path)
	if err != nil {
		return s, fileStamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return s, fileStamp{}, err
	}
	stamp := stampOf(fi)
	s, err = decodeRoute(f, path)
	return s, stamp, err
}

func decodeRoute(f io.Reader, path string) (provision.WebSite, error) {
	var s provision.WebSite
	b, err := io.ReadAll(io.LimitReader(f, maxRouteFile+1))
	if err != nil {
		return s, err
	}
	if len(b) > maxRouteFile {
		return s, fmt.Errorf("larger than %d bytes", maxRouteFile)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("not valid JSON: %w", err)
	}
	s, err = ValidateSite(s)
	if err != nil {
		return s, err
	}
	if filepath.Base(path) != s.Domain+routeExt {
		return s, fmt.Errorf("file name does not match its domain %q", s.Domain)
	}
	return s, nil
}

// routeFileName returns the route file name for a domain, or an error when
// it is not a valid domain.
func routeFileName(d string) (string, error) {
	n, err := domain.NormalizeDomain(d)
	if err != nil {
		return "", err
	}
	return n + routeExt, nil
}

var errSkip = errors.New("skip")
