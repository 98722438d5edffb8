package builtinweb

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// Config configures a Server.
type Config struct {
	// RoutesDir holds one <domain>.json route file per site. Required;
	// created (0755) when missing.
	RoutesDir string
	// Logger receives the server's logs. Default: discard.
	Logger *slog.Logger
	// ReloadInterval is the least time between two checks of RoutesDir's
	// modification time on the request path. A request for an unknown host
	// checks at once. Default 100ms.
	ReloadInterval time.Duration
	// ReadHeaderTimeout and IdleTimeout configure the HTTP server used by
	// Serve. Defaults 10s and 120s.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// Transport carries proxied requests to HTTP upstreams. Default: a
	// clone of http.DefaultTransport.
	Transport http.RoundTripper
	// OpenDocroots is how many docroots stay open between requests (one
	// file descriptor each). Default 256.
	OpenDocroots int
	// FastCGITimeout bounds one FastCGI request (dial to end of response).
	// Default 5 minutes.
	FastCGITimeout time.Duration
	// CertsDir holds one <domain>.pem (chain and key, mode 0600) per site
	// with HTTPS. Default: "certs" next to RoutesDir.
	CertsDir string
	// HTTPSPort is the port HTTP→HTTPS redirects point at (the port of
	// the listener given to ServeTLS, as clients reach it). Default 443.
	HTTPSPort int
}

func (c Config) withDefaults() Config {
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	c.ReloadInterval = cmp.Or(c.ReloadInterval, 100*time.Millisecond)
	c.ReadHeaderTimeout = cmp.Or(c.ReadHeaderTimeout, 10*time.Second)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, 120*time.Second)
	c.OpenDocroots = cmp.Or(c.OpenDocroots, 256)
	c.FastCGITimeout = cmp.Or(c.FastCGITimeout, 5*time.Minute)
	c.CertsDir = cmp.Or(c.CertsDir, certsDirFor(c.RoutesDir))
	c.HTTPSPort = cmp.Or(c.HTTPSPort, 443)
	if c.Transport == nil {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return c
}

// Server is the builtin web server: it routes requests by Host to the sites
// described by the route files in RoutesDir. It is an http.Handler; Serve
// and Shutdown run it on a listener.
type Server struct {
	cfg   Config
	log   *slog.Logger
	http  *http.Server
	https *http.Server

	roots     *rootCache
	table     atomic.Pointer[table]
	lastCheck atomic.Int64 // unix nanos of the last dir stat
	reloadMu  sync.Mutex
	reloading atomic.Bool // a background reload runs
}

var _ http.Handler = (*Server)(nil)

// table is one immutable snapshot of the routes.
type table struct {
	stamp dirStamp
	// recheckAfter is set when the dir changed so shortly before it was
	// read that another change could share its mtime (file systems stamp
	// with a coarse clock): the dir is read once more after that time.
	recheckAfter time.Time
	hosts        map[string]hostEntry
	sites        int
}

type hostEntry struct {
	site  *site
	alias bool
}

// site is one route with what serving it needs.
type site struct {
	provision.WebSite
	proxy *httputil.ReverseProxy
	file  string    // its route file
	stamp fileStamp // the version of the file this route was read from
	// cert is the site's certificate, read on its first handshake: a
	// reload of thousands of routes reads no certificate.
	certOnce sync.Once
	cert     *tls.Certificate
	certErr  error
}

// dirStamp identifies a state of the routes dir: every create, rename or
// remove of an entry changes its mtime (route files are always written by
// rename, never in place).
type dirStamp struct {
	mtime time.Time
	ino   uint64
}

// mtimeSettle is longer than the coarsest file system clock tick (10ms at
// HZ=100) with a margin.
const mtimeSettle = 50 * time.Millisecond

// New returns a Server for cfg and loads the routes once.
func New(cfg Config) (*Server, error) {
	if cfg.RoutesDir == "" || !filepath.IsAbs(cfg.RoutesDir) {
		return nil, fmt.Errorf("builtin web server: RoutesDir %q must be an absolute path", cfg.RoutesDir)
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.RoutesDir, 0o755); err != nil {
		return nil, fmt.Errorf("create routes dir: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "builtinweb"), roots: newRootCache(cfg.ReloadInterval, cfg.OpenDocroots)}
	s.table.Store(&table{hosts: map[string]hostEntry{}})
	if err := s.reload(true); err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.https = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		TLSConfig:         s.TLSConfig(),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Serve accepts connections on ln until Shutdown. It returns nil after a
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("serving sites", "addr", ln.Addr().String(), "routes", s.cfg.RoutesDir)
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits for active requests until
// ctx is done.
// It then closes the docroots it kept open.
func (s *Server) Shutdown(ctx context.Context) error {
	err := errors.Join(s.http.Shutdown(ctx), s.shutdownTLS(ctx))
	s.roots.reset()
	return err
}

// Sites returns how many sites the current routing table holds.
func (s *Server) Sites() int { return s.table.Load().sites }

func statDir(dir string) (dirStamp, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return dirStamp{}, err
	}
	st := dirStamp{mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, nil
}

// maybeReload reloads when the routes dir changed. Unless force, it stats
// the dir at most once per ReloadInterval.
func (s *Server) maybeReload(force bool) {
	now := time.Now().UnixNano()
	last := s.lastCheck.Load()
	if !force && now-last < int64(s.cfg.ReloadInterval) {
		return
	}
	if !force {
		if !s.lastCheck.CompareAndSwap(last, now) {
			return // another request is checking
		}
		// A known host keeps being served from the current table while a
		// reload of thousands of files runs.
		if s.reloading.CompareAndSwap(false, true) {
			go func() {
				defer s.reloading.Store(false)
				if err := s.reload(false); err != nil {
					s.log.Error("reload routes", "err", err)
				}
			}()
		}
		return
	}
	if err := s.reloadUnsettled(); err != nil {
		s.log.Error("reload routes", "err", err)
	}
}

// reloadUnsettled is the reload for a request whose host is unknown: like
// reload(false), but it also reads the dir again while the table is
// unsettled (read within the file system's mtime granularity of a change,
// when a newer file can share the stamp it was read at), so a site
// published a moment ago is never answered 404.
func (s *Server) reloadUnsettled() error {
	cur := s.table.Load()
	if !cur.recheckAfter.IsZero() && time.Now().Before(cur.recheckAfter) {
		return s.reload(true)
	}
	return s.reload(false)
}

// reload rebuilds the table when the dir's stamp differs from the
// table's (always when all). The stamp is taken before the dir is read, so
// a change during the read leads to another reload.
func (s *Server) reload(all bool) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.lastCheck.Store(time.Now().UnixNano())
	stamp, err := statDir(s.cfg.RoutesDir)
	if err != nil {
		return fmt.Errorf("routes dir: %w", err)
	}
	cur := s.table.Load()
	now := time.Now()
	if !all && stamp == cur.stamp && (cur.recheckAfter.IsZero() || now.Before(cur.recheckAfter)) {
		return nil
	}
	t, err := s.load(stamp)
	if err != nil {
		return err
	}
	if now.Sub(stamp.mtime) < mtimeSettle {
		t.recheckAfter = stamp.mtime.Add(mtimeSettle)
	}
	s.table.Store(t)
	s.roots.reset()
	return nil
}

// load reads every route file. A bad file is logged and skipped; a host
// claimed twice goes to the site whose domain it is, else to the first
// file in name order.
func (s *Server) load(stamp dirStamp) (*table, error) {
	entries, err := os.ReadDir(s.cfg.RoutesDir)
	if err != nil {
		return nil, fmt.Errorf("read routes dir: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, routeExt) || !e.Type().IsRegular() {
			continue
		}
		names = append(names, name)
	}
	// Read and validate in parallel: with thousands of sites the time goes
	// into open/read system calls.
	type parsed struct {
		ws    provision.WebSite
		stamp fileStamp
		err   error
	}
	res := make([]parsed, len(names))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0)*2, len(names)/64+1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) {
					return
				}
				res[i].ws, res[i].stamp, res[i].err = readRouteStamped(filepath.Join(s.cfg.RoutesDir, names[i]))
			}
		})
	}
	wg.Wait()

	t := &table{stamp: stamp, hosts: make(map[string]hostEntry, 2*len(names))}
	var sites []*site
	for i, name := range names {
		ws, err := res[i].ws, res[i].err
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) { // removed since ReadDir
				s.log.Error("skipping bad route file: fix or remove it", "file", name, "err", err)
			}
			continue
		}
		// The file name is the domain, so no two files share one.
		st := &site{WebSite: ws, file: filepath.Join(s.cfg.RoutesDir, name), stamp: res[i].stamp}
		if ws.Upstream != "" {
			st.proxy = s.newProxy(ws)
		}
		t.hosts[ws.Domain] = hostEntry{site: st}
		sites = append(sites, st)
	}
	t.sites = len(sites)
	// Aliases after every domain, so a site's own domain always wins.
	for _, st := range sites {
		for _, a := range st.Aliases {
			if prev, ok := t.hosts[a]; ok {
				s.log.Error("alias already used by another site; ignoring it here", "alias", a, "site", st.Domain, "used_by", prev.site.Domain)
				continue
			}
			t.hosts[a] = hostEntry{site: st, alias: true}
		}
	}
	s.log.Debug("routes loaded", "sites", t.sites, "hosts", len(t.hosts))
	return t, nil
}

// hostKey turns a Host header into the routing key: port stripped,
// lowercased, trailing dot removed. The fast path needs no allocation for
// a plain lowercase host; anything else goes through NormalizeDomain (IDN).
func hostKey(host string) (string, bool) {
	if len(host) == 0 || len(host) > 1024 {
		return "", false
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if !validPort(host[i+1:]) {
			return "", false
		}
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	plain := true
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			plain = false
			break
		}
	}
	if plain && host != "" {
		return host, true
	}
	n, err := domain.NormalizeDomain(host)
	if err != nil {
		return "", false
	}
	return n, true
}

// validPort reports whether p is a decimal port number 0..65535.
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// lookup finds the route for a request host, reloading when the routes dir
// changed (at once for an unknown host). A known host's route file is
// checked on every request (one stat): when a task has just replaced or
// removed it, the request already sees the new state, never the old one
// for a reload interval.
func (s *Server) lookup(host string) (hostEntry, bool) {
	key, ok := hostKey(host)
	if !ok {
		return hostEntry{}, false
	}
	s.maybeReload(false)
	e, ok := s.table.Load().hosts[key]
	if ok && !s.current(e.site) {
		s.reloadChanged(key)
		e, ok = s.table.Load().hosts[key]
	}
	if !ok {
		s.maybeReload(true)
		e, ok = s.table.Load().hosts[key]
	}
	return e, ok
}

// current reports whether a site's route file is still the version the
// route was read from.
func (s *Server) current(st *site) bool {
	fi, err := os.Stat(st.file)
	return err == nil && stampOf(fi) == st.stamp
}

// reloadChanged reloads every route because the one for key changed,
// unless a concurrent reload already picked the change up.
func (s *Server) reloadChanged(key string) {
	s.reloadMu.Lock()
	e, ok := s.table.Load().hosts[key]
	stale := ok && !s.current(e.site)
	s.reloadMu.Unlock()
	if stale {
		if err := s.reload(true); err != nil {
			s.log.Error("reload routes", "err", err)
		}
	}
}

// ServeHTTP routes one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, ok := s.lookup(r.Host)
	if !ok {
		s.page(w, r, http.StatusNotFound, pageUnknownHost)
		return
	}
	st := e.site
	if s.serveChallenge(w, r, st) {
		return
	}
	if st.TLS != nil {
		// A disabled site answers its 503 on both (the back end checks
		// it over HTTP).
		if r.TLS == nil && st.TLS.Redirect && !st.Disabled {
			s.redirectToHTTPS(w, r)
			return
		}
		if r.TLS != nil && st.TLS.HSTS {
			w.Header().Set("Strict-Transport-Security", hstsValue)
		}
	}
	switch {
	case st.Disabled:
		w.Header().Set("Retry-After", "3600")
		s.page(w, r, http.StatusServiceUnavailable, pageDisabled)
	case e.alias && st.RedirectAliases:
		s.redirectToMain(w, r, st.Domain)
	case st.proxy != nil:
		st.proxy.ServeHTTP(w, r)
	default:
		s.serveDocroot(w, r, st)
	}
}

// redirectToMain answers 301 to the same path and query on the main
// domain, keeping the request's port.
func (s *Server) redirectToMain(w http.ResponseWriter, r *http.Request, main string) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := main
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		host = net.JoinHostPort(main, port)
	}
	uri := r.URL.RequestURI()
	if !strings.HasPrefix(uri, "/") {
		uri = "/"
	}
	w.Header().Set("Location", scheme+"://"+host+uri)
	w.WriteHeader(http.StatusMovedPermanently)
}

func (s *Server) newProxy(ws provision.WebSite) *httputil.ReverseProxy {
	target, _ := ParseUpstream(ws.Upstream) // validated by readRoute
	domain := ws.Domain
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport: s.cfg.Transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Error("upstream failed", "site", domain, "upstream", target.Host, "err", err)
			s.page(w, r, http.StatusBadGateway, pageBadGateway)
		},
	}
}
