package routing

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// Config configures a Reconciler.
type Config struct {
	// Store is where sites, platforms, servers and services come from.
	Store *store.Store
	// Consul is the client of the Consul agent whose catalog is written.
	Consul *api.Client
	// Logger receives the reconciler's logs. Default: discard.
	Logger *slog.Logger
	// ServiceName is the catalog service every site instance belongs to.
	// Default "aegir-site".
	ServiceName string
	// Tag marks aegir's instances; only instances with it are touched.
	// Default "aegir".
	Tag string
	// Instance names this aegir installation among others that publish
	// into the same Consul (a staging and a production aegir): it goes in
	// every instance's meta as aegir_instance, and instances another
	// installation published are never changed or removed. aegir server
	// sets it to its KV prefix. Empty: every instance with Tag is ours.
	Instance string
	// Router shapes the Traefik tags.
	Router TagOptions
	// CheckPath is requested, with the site's Host, by the health check.
	// Default "/".
	CheckPath string
	// CheckInterval is the time between two health checks of an instance.
	// Default 10s.
	CheckInterval time.Duration
	// CheckTimeout bounds one health check. Default 5s.
	CheckTimeout time.Duration
	// FailuresBeforeCritical is how many checks in a row must fail before
	// a passing instance turns critical. Default 2.
	FailuresBeforeCritical int
	// Concurrency bounds parallel health checks and catalog writes.
	// Default 16.
	Concurrency int
	// Transport carries health checks. Default: a clone of
	// http.DefaultTransport without proxies.
	Transport http.RoundTripper
	// WaitTime bounds one blocking catalog query. Default 5 minutes.
	WaitTime time.Duration
}

func (c Config) withDefaults() Config {
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	c.ServiceName = cmp.Or(c.ServiceName, "aegir-site")
	c.Tag = cmp.Or(c.Tag, "aegir")
	c.CheckPath = cmp.Or(c.CheckPath, "/")
	c.CheckInterval = cmp.Or(c.CheckInterval, 10*time.Second)
	c.CheckTimeout = cmp.Or(c.CheckTimeout, 5*time.Second)
	c.FailuresBeforeCritical = cmp.Or(c.FailuresBeforeCritical, 2)
	c.Concurrency = cmp.Or(c.Concurrency, 16)
	c.WaitTime = cmp.Or(c.WaitTime, 5*time.Minute)
	if c.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		t.MaxIdleConnsPerHost = 4
		c.Transport = t
	}
	return c
}

// Reconciler keeps Consul's catalog equal to the enabled sites in the store:
// one service instance per enabled site on its web server's node, with
// router tags and a health check whose status it keeps by probing the site.
// See the package documentation.
type Reconciler struct {
	cfg Config
	log *slog.Logger
	// nodeLabel tells this installation's catalog nodes from another's
	// with the same server names: "" for the default installation
	// (nodes aegir-<server>), else from Instance (aegir-<label>-<server>).
	nodeLabel string
	health    *http.Client
	wake      chan struct{}

	mu          sync.Mutex
	sites       []domain.Site // nil until the first snapshot
	placeDirty  bool
	entries     []*api.ServiceEntry
	entriesIdx  uint64
	haveEntries bool

	// Owned by the Run goroutine.
	place  *placement
	fails  map[string]int  // instance key → failed checks in a row
	warned map[string]bool // site id → a "cannot publish" warning was logged
	passes int             // reconcile passes, for tests and logs

	status runStatus // what Status reports (status.go)
}

// New returns a Reconciler; Run starts it.
func New(cfg Config) (*Reconciler, error) {
	if cfg.Store == nil || cfg.Consul == nil {
		return nil, errors.New("routing: Config.Store and Config.Consul are required")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Router.check(); err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	if !validEntryPoint(cfg.ServiceName) || !validEntryPoint(cfg.Tag) {
		return nil, fmt.Errorf("routing: service name %q and tag %q must be letters, digits, '_' or '-'", cfg.ServiceName, cfg.Tag)
	}
	if len(cfg.CheckPath) == 0 || cfg.CheckPath[0] != '/' || len(cfg.CheckPath) > 256 {
		return nil, fmt.Errorf("routing: CheckPath %q must be an absolute URL path", cfg.CheckPath)
	}
	r := &Reconciler{
		nodeLabel: instanceLabel(cfg.Instance),
		cfg:       cfg,
		log:       cfg.Logger.With("component", "routing"),
		wake:      make(chan struct{}, 1),
		health: &http.Client{
			Transport:     cfg.Transport,
			Timeout:       cfg.CheckTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		fails:  map[string]int{},
		warned: map[string]bool{},
	}
	return r, nil
}

func (r *Reconciler) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run follows the store and the catalog until ctx ends, repairing the
// catalog after every change on either side and keeping health checks
// current. It returns nil when ctx ends. Run one Reconciler at a time per
// cluster (under the dispatcher's leadership); a Reconciler may Run again
// after Run returned, but not twice at once.
func (r *Reconciler) Run(ctx context.Context) error {
	r.setRunning(true)
	defer r.setRunning(false)
	ctx, cancel := context.WithCancel(ctx)
	probes := make(chan []probeResult)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for _, fn := range []func(context.Context){r.watchSites, r.watchPlacement, r.watchCatalog, func(ctx context.Context) { r.probeLoop(ctx, probes) }} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx)
		}()
	}
	r.log.Info("routing reconciler started", "service", r.cfg.ServiceName, "check_interval", r.cfg.CheckInterval)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	backoff := 200 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-retry.C:
		case res := <-probes:
			err := r.applyProbes(ctx, res)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("recording health check results failed; next round retries", "err", err)
			}
			if ctx.Err() == nil {
				r.setProbeErr(err)
			}
		}
		passes := r.passes
		if err := r.reconcile(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.passDone(err)
			if errors.Is(err, ErrPermissionDenied) {
				// Not transient: it needs the operator. Still retried, so a
				// fixed token takes effect without a restart.
				r.log.Error("routing cannot write Consul's catalog: fix aegir's Consul token; retrying", "err", err, "backoff", backoff)
			} else {
				r.log.Warn("routing reconcile failed; retrying", "err", err, "backoff", backoff)
			}
			retry.Reset(backoff)
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		if r.passes > passes {
			r.passDone(nil)
		}
		backoff = 200 * time.Millisecond
	}
}

// watchSites follows the store's site mirror.
func (r *Reconciler) watchSites(ctx context.Context) {
	var tok uint64
	for ctx.Err() == nil {
		sites, next, err := r.cfg.Store.WatchSites(ctx, tok)
		if err != nil {
			return // only ctx ends it
		}
		tok = next
		r.mu.Lock()
		r.sites = sites
		r.mu.Unlock()
		r.poke()
	}
}

// watchPlacement marks the servers, services and platforms for re-reading
// whenever one changes.
func (r *Reconciler) watchPlacement(ctx context.Context) {
	var tok store.PlacementToken
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		next, err := r.cfg.Store.WatchPlacement(ctx, tok)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("watching servers and platforms failed; retrying", "err", err)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if next == tok {
			continue
		}
		tok = next
		r.mu.Lock()
		r.placeDirty = true
		r.mu.Unlock()
		r.poke()
	}
}

// watchCatalog follows the site service's instances and their health with
// blocking queries.
func (r *Reconciler) watchCatalog(ctx context.Context) {
	var idx uint64
	backoff := 100 * time.Millisecond
	warnedHidden := false
	for ctx.Err() == nil {
		q := (&api.QueryOptions{WaitIndex: idx, WaitTime: r.cfg.WaitTime}).WithContext(ctx)
		entries, meta, err := r.cfg.Consul.Health().Service(r.cfg.ServiceName, r.cfg.Tag, false, q)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			err = r.consulErr("read the instances of "+r.cfg.ServiceName+" from the catalog", err)
			r.setWatchErr(err)
			if errors.Is(err, ErrPermissionDenied) {
				r.log.Error("routing cannot read Consul's catalog: fix aegir's Consul token; retrying", "err", err, "backoff", backoff)
			} else {
				r.log.Warn("watching the Consul catalog failed; is the agent up? retrying", "err", err, "backoff", backoff)
			}
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		r.setWatchErr(nil)
		if meta.ResultsFilteredByACLs && !warnedHidden {
			// Consul says so only to a request with a token; what the
			// reconciler cannot see it cannot repair.
			warnedHidden = true
			r.log.Warn("Consul hides some instances of the site service from aegir's ACL token; they are not reconciled: "+r.grant(),
				"service", r.cfg.ServiceName)
		}
		switch {
		case meta.LastIndex < idx:
			idx = 0 // the index went backwards (a restored snapshot): start over
			continue
		case meta.LastIndex == idx:
			continue // wait timed out with no change
		}
		idx = meta.LastIndex
		if r.setEntries(entries, idx) {
			r.poke()
		}
	}
}

// setEntries records a catalog answer unless a newer one is recorded.
func (r *Reconciler) setEntries(entries []*api.ServiceEntry, idx uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.haveEntries && idx < r.entriesIdx {
		return false
	}
	r.entries, r.entriesIdx, r.haveEntries = r.ours(entries), idx, true
	return true
}

// ours keeps the instances this installation may manage: its own, and
// those without an installation mark (published before there was one).
func (r *Reconciler) ours(entries []*api.ServiceEntry) []*api.ServiceEntry {
	if r.cfg.Instance == "" {
		return entries
	}
	out := entries[:0:0]
	for _, e := range entries {
		if inst := e.Service.Meta[metaInstance]; inst == "" || inst == r.cfg.Instance {
			out = append(out, e)
		}
	}
	return out
}

// instanceLabel turns an installation's name (its KV prefix) into a
// catalog node name part: lower-case letters, digits and single dashes.
// The default installation's (aegir/v1/) is "": its nodes keep their
// plain names.
func instanceLabel(instance string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(instance) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	label := strings.TrimSuffix(b.String(), "-")
	switch {
	case label == "aegir-v1":
		return ""
	case len(label) > 40: // keep node names short, and still distinct
		sum := sha256.Sum256([]byte(instance))
		return label[:31] + "-" + hex.EncodeToString(sum[:4])
	}
	return label
}

// metaInstance is the service meta key naming the installation that
// published an instance.
const metaInstance = "aegir_instance"

// refreshEntries reads the catalog now (after our own writes), so the next
// pass does not act on a stale view.
func (r *Reconciler) refreshEntries(ctx context.Context) error {
	q := (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx)
	entries, meta, err := r.cfg.Consul.Health().Service(r.cfg.ServiceName, r.cfg.Tag, false, q)
	if err != nil {
		return err
	}
	r.setEntries(entries, meta.LastIndex)
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// placement is what decides where a site is served, read from the store.
type placement struct {
	platforms map[string]domain.Platform
	servers   map[string]domain.Server
	http      map[string]domain.Service // by server id
}

func (r *Reconciler) loadPlacement(ctx context.Context) (*placement, error) {
	st := r.cfg.Store
	ps, err := st.ListPlatforms(ctx)
	if err != nil {
		return nil, err
	}
	ss, err := st.ListServers(ctx)
	if err != nil {
		return nil, err
	}
	svcs, err := st.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	pl := &placement{platforms: map[string]domain.Platform{}, servers: map[string]domain.Server{}, http: map[string]domain.Service{}}
	for _, p := range ps {
		pl.platforms[p.ID] = p
	}
	for _, s := range ss {
		pl.servers[s.ID] = s
	}
	for _, s := range svcs {
		if s.Type == domain.ServiceHTTP {
			pl.http[s.ServerID] = s
		}
	}
	return pl, nil
}

// want is one desired instance with its catalog form.
type want struct {
	Instance
	node   string
	nodeID string
	tags   []string
	meta   map[string]string
}

// desired maps site id → the instance that should be published.
func (r *Reconciler) desired(sites []domain.Site, pl *placement) map[string]*want {
	out := make(map[string]*want, len(sites))
	for i := range sites {
		s := &sites[i]
		if s.Status != domain.SiteEnabled {
			continue
		}
		w, err := r.wantFor(s, pl)
		if err != nil {
			if !r.warned[s.ID] {
				r.warned[s.ID] = true
				r.log.Warn("enabled site cannot be published for routing; fix its platform or web server", "site", s.Domain, "err", err)
			}
			continue
		}
		delete(r.warned, s.ID)
		out[s.ID] = w
	}
	return out
}

func (r *Reconciler) wantFor(s *domain.Site, pl *placement) (*want, error) {
	p, ok := pl.platforms[s.PlatformID]
	if !ok {
		return nil, fmt.Errorf("platform %s not found", s.PlatformID)
	}
	srv, ok := pl.servers[p.WebServerID]
	if !ok {
		return nil, fmt.Errorf("web server %s of platform %s not found", p.WebServerID, p.Name)
	}
	svc, ok := pl.http[srv.ID]
	if !ok {
		return nil, fmt.Errorf("server %s has no http service", srv.Name)
	}
	port := svc.Port
	if port == 0 {
		port = 80
	}
	in := Instance{
		SiteID: s.ID, Domain: s.Domain, Aliases: s.Aliases, RedirectAliases: s.RedirectAliases,
		PlatformID: s.PlatformID, ClientID: s.ClientID,
		ServerID: srv.ID, ServerName: srv.Name, Address: srv.Address, Port: port,
	}
	if s.HTTPS.Enabled() {
		in.TLSPort = tlsPort(svc)
	}
	if err := checkAddress(in.Address, in.Port); err != nil {
		return nil, err
	}
	node, err := NodeName(srv.Name)
	if err == nil && r.nodeLabel != "" {
		node = "aegir-" + r.nodeLabel + "-" + srv.Name
	}
	if err != nil {
		return nil, err
	}
	tags, err := Tags(r.cfg.Tag, in, r.cfg.Router)
	if err != nil {
		return nil, err
	}
	meta := Meta(in)
	if r.cfg.Instance != "" {
		meta[metaInstance] = r.cfg.Instance
	}
	return &want{Instance: in, node: node, nodeID: NodeID(srv.ID), tags: tags, meta: meta}, nil
}

// checkID is the catalog check of an instance, on its node.
func checkID(serviceID string) string { return "service:" + serviceID }

// checkStatus returns the status of an entry's own check ("" if missing).
func checkStatus(e *api.ServiceEntry) string {
	id := checkID(e.Service.ID)
	for _, c := range e.Checks {
		if c.CheckID == id {
			return c.Status
		}
	}
	return ""
}

// same reports whether a catalog entry already is what w describes.
func same(e *api.ServiceEntry, w *want) bool {
	return e.Node.Address == w.Address && e.Node.ID == w.nodeID &&
		e.Service.Address == w.Address && e.Service.Port == w.Port &&
		slices.Equal(e.Service.Tags, w.tags) && maps.Equal(e.Service.Meta, w.meta)
}

// reconcile makes one pass: register what is missing or different, move
// sites whose new instance is passing, remove what is not wanted.
func (r *Reconciler) reconcile(ctx context.Context) error {
	r.mu.Lock()
	sites, dirty, entries, have := r.sites, r.placeDirty, r.entries, r.haveEntries
	r.placeDirty = false
	r.mu.Unlock()
	if sites == nil || !have {
		return nil // not started yet; the first snapshots wake us
	}
	if dirty || r.place == nil {
		pl, err := r.loadPlacement(ctx)
		if err != nil {
			r.mu.Lock()
			r.placeDirty = true
			r.mu.Unlock()
			return fmt.Errorf("read servers and platforms: %w", err)
		}
		r.place = pl
	}
	r.passes++
	wants := r.desired(sites, r.place)

	// actual: site id → node → entry.
	actual := map[string]map[string]*api.ServiceEntry{}
	var foreign []*api.ServiceEntry
	for _, e := range entries {
		id, ok := SiteIDOf(e.Service.ID)
		if !ok {
			foreign = append(foreign, e)
			continue
		}
		if actual[id] == nil {
			actual[id] = map[string]*api.ServiceEntry{}
		}
		actual[id][e.Node.Node] = e
	}

	var regs []*want
	var newRegs []*want
	var deregs []*api.ServiceEntry
	for id, w := range wants {
		cur, ok := actual[id][w.node]
		switch {
		case !ok:
			newRegs = append(newRegs, w)
		case !same(cur, w):
			regs = append(regs, w)
		}
		// Move: old instances go once the new one passes.
		if ok && checkStatus(cur) == api.HealthPassing {
			for node, e := range actual[id] {
				if node != w.node {
					deregs = append(deregs, e)
				}
			}
		}
	}
	for id, byNode := range actual {
		if _, ok := wants[id]; !ok {
			for _, e := range byNode {
				deregs = append(deregs, e)
			}
		}
	}
	for _, e := range foreign {
		r.log.Warn("removing a catalog instance with aegir's tag but no aegir service ID", "node", e.Node.Node, "service_id", e.Service.ID)
		deregs = append(deregs, e)
	}
	if len(regs)+len(newRegs)+len(deregs) == 0 {
		return nil
	}

	// A new instance starts with the status of one check made now, so a
	// router never sends traffic to a server that does not serve the site
	// yet, and a server that does is routed at once.
	status := make([]probeResult, len(newRegs))
	parallel(ctx, r.cfg.Concurrency, len(newRegs), func(i int) {
		w := newRegs[i]
		status[i] = r.probe(ctx, w.Address, w.Port, w.Domain)
	})
	var errs []error
	var emu sync.Mutex
	fail := func(err error) {
		emu.Lock()
		errs = append(errs, err)
		emu.Unlock()
	}
	parallel(ctx, r.cfg.Concurrency, len(newRegs), func(i int) {
		if err := r.register(ctx, newRegs[i], &status[i]); err != nil {
			fail(err)
		}
	})
	parallel(ctx, r.cfg.Concurrency, len(regs), func(i int) {
		if err := r.register(ctx, regs[i], nil); err != nil {
			fail(err)
		}
	})
	parallel(ctx, r.cfg.Concurrency, len(deregs), func(i int) {
		e := deregs[i]
		_, err := r.cfg.Consul.Catalog().Deregister(&api.CatalogDeregistration{Node: e.Node.Node, ServiceID: e.Service.ID}, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil {
			fail(r.consulErr(fmt.Sprintf("deregister %s from %s", e.Service.ID, e.Node.Node), err))
			return
		}
		r.log.Info("site instance removed from routing", "site", e.Service.Meta["domain"], "service_id", e.Service.ID, "node", e.Node.Node)
	})
	for i := range newRegs {
		r.log.Info("site published for routing", "site", newRegs[i].Domain, "node", newRegs[i].node, "status", status[i].status)
	}
	if err := r.refreshEntries(ctx); err != nil {
		errs = append(errs, fmt.Errorf("re-read catalog: %w", err))
	}
	if len(errs) > 0 {
		// Run retries after its backoff; a poke now would retry at once,
		// and a lasting refusal (an ACL denial) would spin.
		return errors.Join(errs...)
	}
	// A new passing instance may let an old one go: look again.
	r.poke()
	return nil
}

// register writes a node and instance; with initial it also writes the
// instance's check with that status (a re-registration keeps the check).
func (r *Reconciler) register(ctx context.Context, w *want, initial *probeResult) error {
	reg := &api.CatalogRegistration{
		ID:       w.nodeID,
		Node:     w.node,
		Address:  w.Address,
		NodeMeta: map[string]string{"aegir-server-id": w.ServerID, "external-node": "true", "external-probe": "false"},
		Service: &api.AgentService{
			ID: ServiceID(w.SiteID), Service: r.cfg.ServiceName,
			Tags: w.tags, Meta: w.meta, Address: w.Address, Port: w.Port,
		},
	}
	if initial != nil {
		reg.Check = r.check(w.node, ServiceID(w.SiteID), *initial)
	}
	if _, err := r.cfg.Consul.Catalog().Register(reg, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return r.consulErr(fmt.Sprintf("register %s on %s", w.Domain, w.node), err)
	}
	return nil
}

func (r *Reconciler) check(node, serviceID string, res probeResult) *api.AgentCheck {
	return &api.AgentCheck{
		Node: node, CheckID: checkID(serviceID), Name: "aegir site HTTP",
		Status: res.status, Output: res.output, ServiceID: serviceID, ServiceName: r.cfg.ServiceName,
		Type: "http",
	}
}

// parallel runs fn(0..n-1) on at most conc goroutines.
func parallel(ctx context.Context, conc, n int, fn func(i int)) {
	if n == 0 {
		return
	}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// tlsPort is the port where a web service serves HTTPS: its https_port
// setting, else 443.
func tlsPort(svc domain.Service) int {
	if v, err := strconv.Atoi(svc.Settings["https_port"]); err == nil && v > 0 && v <= 65535 {
		return v
	}
	return 443
}

// Routes reports whether the catalog still holds an instance of site
// siteID served as domainName on the web server serverID: whether a
// router reading the catalog may still send that domain there. It reads
// the catalog now (a consistent read), not the reconciler's last view, and
// needs no running reconciler. The dispatcher asks it before removing a
// migrated site's old place (scheduler/dispatch.Router).
func (r *Reconciler) Routes(ctx context.Context, siteID, serverID, domainName string) (bool, error) {
	q := (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx)
	entries, _, err := r.cfg.Consul.Health().Service(r.cfg.ServiceName, r.cfg.Tag, false, q)
	if err != nil {
		return false, r.consulErr("read the instances of "+r.cfg.ServiceName+" from the catalog", err)
	}
	id := ServiceID(siteID)
	for _, e := range r.ours(entries) {
		if e.Service.ID == id && e.Service.Meta["server"] == serverID && e.Service.Meta["domain"] == domainName {
			return true, nil
		}
	}
	return false, nil
}
