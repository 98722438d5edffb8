package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aegirhq/aegir/internal/domain"
)

func setSiteVersion(v *domain.Site, n uint64) { v.Version = n }

var decodeSite = decodeInto(setSiteVersion)

// CreateSite validates and stores a site, claims its domain and every alias,
// and queues its install task, in one transaction. The transaction also
// checks that the platform is unchanged since it was read, so a platform
// locked at the same moment takes no new site.
func (s *Store) CreateSite(ctx context.Context, site *domain.Site, by string) (task *domain.Task, err error) {
	err = withRefRetry(func() error {
		task, err = s.createSite(ctx, site, nil, by)
		return err
	})
	return task, err
}

// CreateSiteFromBackup is CreateSite for a site brought back from backup
// b: its install task restores b (install with backup_id). The site takes
// b's site id, so a deleted site comes back as itself, with its older
// backups and tasks; a site of that id that exists is a conflict. A b not
// stored yet (Version 0: an imported archive) is recorded in the same
// transaction; a stored one must be unchanged.
func (s *Store) CreateSiteFromBackup(ctx context.Context, site *domain.Site, b *domain.Backup, by string) (task *domain.Task, err error) {
	if !domain.ValidID(b.SiteID) {
		return nil, domain.Invalid("from_backup", "the backup names no site id")
	}
	err = withRefRetry(func() error {
		if old, err := s.GetSite(ctx, b.SiteID); err == nil {
			return fmt.Errorf("the site of backup %s, %s, still exists: restore it instead (aegir site restore %s -backup %s): %w",
				b.ID, old.Domain, old.Domain, b.ID, domain.ErrConflict)
		} else if !errors.Is(err, domain.ErrNotFound) {
			return err
		}
		task, err = s.createSite(ctx, site, b, by)
		return err
	})
	return task, err
}

func (s *Store) createSite(ctx context.Context, site *domain.Site, from *domain.Backup, by string) (*domain.Task, error) {
	site.ID = domain.NewID()
	var args map[string]string
	if from != nil {
		site.ID, args = from.SiteID, map[string]string{"backup_id": from.ID}
	}
	site.Status = domain.SitePending
	if err := site.Normalize(); err != nil {
		return nil, err
	}
	p, err := s.checkSiteRefs(ctx, site)
	if err != nil {
		return nil, err
	}
	site.CreatedAt, site.UpdatedAt = s.now(), s.now()
	t := newTx()
	t.touches[&s.sites.mirrorBase] = true
	t.newSites = map[string]int{site.ClientID: 1}
	if err := t.create(prefixSites+site.ID, site, nil); err != nil {
		return nil, err
	}
	for _, n := range site.Names() {
		claimDomain(t, n, site.ID)
	}
	t.add(Op{Verb: OpCheckIndex, Key: prefixPlatforms + p.ID, Index: p.Version}, errRefChanged)
	if from != nil {
		if from.Version == 0 {
			from.ClientID, from.Domain = site.ClientID, site.Domain
			if from.CreatedAt.IsZero() {
				from.CreatedAt = s.now()
			}
			if err := t.create(prefixBackups+from.ID, from, nil); err != nil {
				return nil, err
			}
		} else {
			t.add(Op{Verb: OpCheckIndex, Key: prefixBackups + from.ID, Index: from.Version}, errRefChanged)
		}
	}
	task, err := s.enqueue(t, domain.TaskInstall, domain.TargetSite, site.ID, site.Domain, site.ClientID, args, by)
	if err != nil {
		return nil, err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return nil, s.explainDuplicate(ctx, err)
	}
	site.Version = versionOf(pairs, 0)
	return task, nil
}

func claimDomain(t *tx, name, siteID string) {
	t.add(Op{Verb: OpCAS, Key: uniqueKey("domain", name), Value: []byte(siteID)},
		&domain.DuplicateError{Kind: "domain", Value: name})
}

// explainDuplicate fills in which site owns a duplicate domain.
func (s *Store) explainDuplicate(ctx context.Context, err error) error {
	var de *domain.DuplicateError
	if errors.As(err, &de) && de.OwnerID == "" {
		if owner, lerr := s.lookupUnique(ctx, de.Kind, de.Value); lerr == nil && owner != "" {
			out := &domain.DuplicateError{Kind: de.Kind, Value: de.Value, OwnerID: owner}
			if site, gerr := s.GetSite(ctx, owner); gerr == nil {
				out.OwnerName = site.Domain
			}
			return out
		}
	}
	return err
}

// checkSiteRefs checks that a site's platform, database server and client
// exist and can take it, and returns the platform.
func (s *Store) checkSiteRefs(ctx context.Context, site *domain.Site) (*domain.Platform, error) {
	p, err := s.GetPlatform(ctx, site.PlatformID)
	if err != nil {
		return nil, domain.Invalid("platform_id", "%v", err)
	}
	if p.Locked {
		return nil, fmt.Errorf("platform %s is locked and takes no new sites; unlock it or choose another: %w", p.Name, domain.ErrConflict)
	}
	if p.Status == domain.PlatformDeleted {
		return nil, domain.Invalid("platform_id", "platform %s is deleted", p.Name)
	}
	if _, err := s.ServiceOf(ctx, site.DBServerID, domain.ServiceDB); err != nil {
		return nil, domain.Invalid("db_server_id", "server %s has no database service", site.DBServerID)
	}
	if _, err := s.GetClient(ctx, site.ClientID); err != nil {
		return nil, domain.Invalid("client_id", "%v", err)
	}
	return p, nil
}

// GetSite returns the site with id.
func (s *Store) GetSite(ctx context.Context, id string) (*domain.Site, error) {
	return get(ctx, s.kv, prefixSites+id, "site", id, setSiteVersion)
}

// SiteByDomain returns the site answering on host (its domain or an alias).
func (s *Store) SiteByDomain(ctx context.Context, host string) (*domain.Site, error) {
	n, err := domain.NormalizeDomain(host)
	if err != nil {
		return nil, domain.NotFound("site", host)
	}
	id, err := s.lookupUnique(ctx, "domain", n)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, domain.NotFound("site", host)
	}
	return s.GetSite(ctx, id)
}

// UpdateSite stores an edited site (aliases, redirect flag, client, profile)
// and queues a verify task, in one transaction. Domain, platform and
// database server change only through migrate.
func (s *Store) UpdateSite(ctx context.Context, site *domain.Site, by string) (*domain.Task, error) {
	old, err := s.GetSite(ctx, site.ID)
	if err != nil {
		return nil, err
	}
	if old.Status == domain.SiteDeleted {
		return nil, fmt.Errorf("site %s is deleted: %w", old.Domain, domain.ErrConflict)
	}
	if err := site.Normalize(); err != nil {
		return nil, err
	}
	// Name the field that differs: a client that sent the site back with
	// a new platform_id must be told about platform_id, not domain.
	for _, f := range []struct{ field, was, is string }{
		{"domain", old.Domain, site.Domain}, {"platform_id", old.PlatformID, site.PlatformID}, {"db_server_id", old.DBServerID, site.DBServerID},
	} {
		if f.is != f.was {
			return nil, domain.Invalid(f.field, "domain, platform and database server change through a migrate task")
		}
	}
	if site.ClientID != old.ClientID {
		if _, err := s.GetClient(ctx, site.ClientID); err != nil {
			return nil, domain.Invalid("client_id", "%v", err)
		}
	}
	site.Status, site.CreatedAt, site.UpdatedAt = old.Status, old.CreatedAt, s.now()
	site.Certificate = old.Certificate // reported by tasks, never edited
	t := newTx()
	if site.ClientID != old.ClientID {
		// A site moved to another client counts as a new site of that
		// client's (quotas.go).
		t.newSites = map[string]int{site.ClientID: 1}
	}
	if err := s.putSiteOps(t, old, site); err != nil {
		return nil, err
	}
	task, err := s.enqueue(t, domain.TaskVerify, domain.TargetSite, site.ID, site.Domain, site.ClientID, nil, by)
	if err != nil {
		return nil, err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return nil, s.explainDuplicate(ctx, err)
	}
	site.Version = versionOf(pairs, 0)
	return task, nil
}

// putSiteOps adds the ops that store site over old: CAS on the site and the
// domain index keys for names that came and went.
func (s *Store) putSiteOps(t *tx, old, site *domain.Site) error {
	t.touches[&s.sites.mirrorBase] = true
	if err := t.update(prefixSites+site.ID, site, site.Version, nil); err != nil {
		return err
	}
	oldNames, newNames := old.Names(), site.Names()
	for _, n := range oldNames {
		if !slices.Contains(newNames, n) {
			t.release("domain", n)
		}
	}
	for _, n := range newNames {
		if !slices.Contains(oldNames, n) {
			claimDomain(t, n, site.ID)
		}
	}
	return nil
}

// deleteSiteOps removes a site record and frees its names.
func (s *Store) deleteSiteOps(t *tx, site *domain.Site) {
	t.touches[&s.sites.mirrorBase] = true
	t.deleteCAS(prefixSites+site.ID, site.Version, nil)
	for _, n := range site.Names() {
		t.release("domain", n)
	}
}

// SiteFilter selects sites for ListSites. Zero fields match everything.
type SiteFilter struct {
	Query      string // substring of the domain or an alias
	Status     domain.SiteStatus
	PlatformID string
	ClientID   string
	ClientIDs  []string // restrict to these clients (access control); nil: no restriction
	DBServerID string
	ServerID   string // the site's web server (through its platform) or its db server
	Offset     int
	Limit      int // default 50, at most 1000
}

// SitePage is one page of sites, sorted by domain, and the total matching.
type SitePage struct {
	Items []domain.Site `json:"items"`
	Total int           `json:"total"`
}

// sortedSites caches the mirror's sites sorted by domain, per generation.
type sortedSites struct {
	mu    sync.Mutex
	gen   uint64
	items []*domain.Site
}

// ListSites returns one page of the sites matching f, sorted by domain.
func (s *Store) ListSites(ctx context.Context, f SiteFilter) (*SitePage, error) {
	all, err := s.allSitesSorted(ctx)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	var webServerOf map[string]string
	if f.ServerID != "" {
		ps, err := s.ListPlatforms(ctx)
		if err != nil {
			return nil, err
		}
		webServerOf = make(map[string]string, len(ps))
		for _, p := range ps {
			webServerOf[p.ID] = p.WebServerID
		}
	}
	q := strings.ToLower(strings.TrimSpace(f.Query))
	page := &SitePage{Items: []domain.Site{}}
	if q == "" && f.Status == "" && f.PlatformID == "" && f.ClientID == "" && f.ClientIDs == nil &&
		f.DBServerID == "" && f.ServerID == "" {
		// No filter: the page is a slice of the sorted list.
		page.Total = len(all)
		off := min(max(f.Offset, 0), len(all))
		for _, st := range all[off:min(off+limit, len(all))] {
			page.Items = append(page.Items, *st)
		}
		return page, nil
	}
	for _, st := range all {
		if f.Status != "" && st.Status != f.Status ||
			f.PlatformID != "" && st.PlatformID != f.PlatformID ||
			f.ClientID != "" && st.ClientID != f.ClientID ||
			f.ClientIDs != nil && !slices.Contains(f.ClientIDs, st.ClientID) ||
			f.DBServerID != "" && st.DBServerID != f.DBServerID ||
			f.ServerID != "" && st.DBServerID != f.ServerID && webServerOf[st.PlatformID] != f.ServerID {
			continue
		}
		if q != "" && !siteMatches(st, q) {
			continue
		}
		if page.Total >= f.Offset && len(page.Items) < limit {
			page.Items = append(page.Items, *st)
		}
		page.Total++
	}
	return page, nil
}

func siteMatches(st *domain.Site, q string) bool {
	if strings.Contains(st.Domain, q) {
		return true
	}
	for _, a := range st.Aliases {
		if strings.Contains(a, q) {
			return true
		}
	}
	return false
}

func (s *Store) allSitesSorted(ctx context.Context) ([]*domain.Site, error) {
	cache := &s.siteSort
	// Fast path: nothing changed since the cache was sorted, so skip copying
	// 10,000 pointers out of the mirror's map.
	if gen, ok := s.sites.generation(s.cfg.CatchUpWait); ok {
		cache.mu.Lock()
		items, cgen := cache.items, cache.gen
		cache.mu.Unlock()
		if items != nil && cgen == gen {
			return items, nil
		}
	}
	items, gen, ok := s.sites.snapshot(s.cfg.CatchUpWait)
	if !ok {
		vals, err := list(ctx, s.kv, prefixSites, setSiteVersion)
		if err != nil {
			return nil, err
		}
		out := make([]*domain.Site, len(vals))
		for i := range vals {
			out[i] = &vals[i]
		}
		sortSites(out)
		return out, nil
	}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if cache.items == nil || cache.gen != gen {
		sortSites(items)
		cache.items, cache.gen = items, gen
	}
	return cache.items, nil
}

func sortSites(items []*domain.Site) {
	slices.SortFunc(items, func(a, b *domain.Site) int { return strings.Compare(a.Domain, b.Domain) })
}
