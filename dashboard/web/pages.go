package web

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision/platform"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/taskspec"
	"github.com/aegirhq/aegir/scheduler/queue"
)

const uiPageSize = 50

// lookups names the entities pages refer to by id.
type lookups struct {
	Platforms map[string]domain.Platform
	Servers   map[string]domain.Server
	Clients   map[string]domain.Client
}

// lookups loads platforms and clients the user may see, and servers for
// admins (a client user sees server names only through their sites).
func (u *ui) lookups(ctx context.Context) (*lookups, error) {
	l := &lookups{Platforms: map[string]domain.Platform{}, Servers: map[string]domain.Server{}, Clients: map[string]domain.Client{}}
	ps, err := u.st.ListPlatforms(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		l.Platforms[p.ID] = p
	}
	ss, err := u.st.ListServers(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range ss {
		l.Servers[s.ID] = s
	}
	cs, err := u.st.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		l.Clients[c.ID] = c
	}
	return l, nil
}

func (l *lookups) PlatformName(id string) string { return nameOr(l.Platforms[id].Name, id) }
func (l *lookups) ServerName(id string) string   { return nameOr(l.Servers[id].Name, id) }
func (l *lookups) ClientName(id string) string {
	if c, ok := l.Clients[id]; ok {
		return firstOf(c.Title, c.Name)
	}
	return id
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func nameOr(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

func sortedPlatforms(l *lookups) []domain.Platform {
	out := make([]domain.Platform, 0, len(l.Platforms))
	for _, p := range l.Platforms {
		if p.Status != domain.PlatformDeleted {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b domain.Platform) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func sortedServers(l *lookups) []domain.Server {
	out := make([]domain.Server, 0, len(l.Servers))
	for _, s := range l.Servers {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b domain.Server) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// visibleClients are the clients the actor may see (control.Actor's
// rule), sorted by name.
func visibleClients(l *lookups, a control.Actor) []domain.Client {
	out := []domain.Client{}
	for _, c := range l.Clients {
		if a.CanSee(c.ID) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b domain.Client) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// pager is the "1–50 of 10,000, previous, next" of a list.
type pager struct {
	From, To, Total int
	Prev, Next      string
}

func newPager(c *fiber.Ctx, offset, n, total int) pager {
	p := pager{From: offset + 1, To: offset + n, Total: total}
	if n == 0 {
		p.From = 0
	}
	q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	link := func(off int) string {
		q.Set("offset", strconv.Itoa(off))
		return c.Path() + "?" + q.Encode()
	}
	if offset > 0 {
		p.Prev = link(max(0, offset-uiPageSize))
	}
	if offset+n < total {
		p.Next = link(offset + uiPageSize)
	}
	return p
}

func uiOffset(c *fiber.Ctx) int {
	n, err := strconv.Atoi(c.Query("offset"))
	if err != nil || n < 0 {
		return 0
	}
	return min(n, 1_000_000)
}

// --- overview ---

type statusCount struct {
	Status string
	Count  int
}

type serverHealth struct {
	Server   domain.Server
	Services []domain.Service
}

type overviewView struct {
	Sites       []statusCount
	TotalSites  int
	Platforms   int // admins only: for the getting-started card
	Servers     []serverHealth
	Queued      []domain.Task
	Running     []domain.Task
	Failed      []domain.Task
	Succeeded24 int
	Charts      chartSet
	Queues      []queue.Status
	HasQueues   bool
	System      *api.SystemStatus // admins only (dashboard/api/status.go)
	// Certs are the sites whose certificate is expired, expires soon or
	// failed (the first maxCertIssues of CertTotal).
	Certs     []certIssue
	CertTotal int
}

type chartSet struct {
	PerHour any
	Backlog any
}

// overviewStatusAge is how old the System panel's status may be: many
// open overviews share one round of checks.
const overviewStatusAge = 5 * time.Second

func (u *ui) overview(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	var d overviewView
	for _, st := range []domain.SiteStatus{domain.SiteEnabled, domain.SitePending, domain.SiteDisabled, domain.SiteFailed} {
		p, err := u.ctl.Sites.List(ctx, actor(c), store.SiteFilter{Status: st, Limit: 1})
		if err != nil {
			return err
		}
		d.Sites = append(d.Sites, statusCount{string(st), p.Total})
		d.TotalSites += p.Total
	}
	if v.Admin {
		st := u.api.RecentStatus(ctx, overviewStatusAge)
		d.System = &st
		servers, err := u.ctl.Servers.List(ctx, actor(c))
		if err != nil {
			return err
		}
		for _, s := range servers {
			svcs, err := u.ctl.Services.Of(ctx, actor(c), s.ID)
			if err != nil {
				return err
			}
			d.Servers = append(d.Servers, serverHealth{s, svcs})
		}
		if d.TotalSites == 0 {
			ps, err := u.st.ListPlatforms(ctx)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if p.Status != domain.PlatformDeleted {
					d.Platforms++
				}
			}
		}
	}
	now := time.Now().UTC()
	var err error
	if d.Certs, d.CertTotal, err = u.certIssues(ctx, c, now); err != nil {
		return err
	}
	tasks, err := u.ctl.Tasks.Since(ctx, actor(c), now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	for _, t := range tasks {
		switch t.Status {
		case domain.TaskQueued:
			d.Queued = append(d.Queued, t)
		case domain.TaskRunning:
			d.Running = append(d.Running, t)
		case domain.TaskFailed:
			if len(d.Failed) < 20 {
				d.Failed = append(d.Failed, t)
			}
		case domain.TaskSucceeded:
			d.Succeeded24++
		}
	}
	if len(d.Queued) > 20 {
		d.Queued = d.Queued[len(d.Queued)-20:]
	}
	d.Charts = chartSet{PerHour: tasksPerHourChart(tasks, now), Backlog: backlogChart(tasks, now)}
	d.HasQueues = u.ctl.Queues.Available()
	if d.Queues, err = u.queueStatuses(ctx, actor(c)); err != nil {
		return err
	}
	v.Title, v.Nav = "Overview", "overview"
	return u.render(c, "overview", v, d)
}

// --- sites ---

type sitesView struct {
	Items     []siteRow
	Pager     pager
	Q         string
	Status    string
	Platform  string
	Client    string
	Server    string
	Statuses  []domain.SiteStatus
	Platforms []domain.Platform
	Clients   []domain.Client
	Servers   []domain.Server
	L         *lookups
}

var siteStatuses = []domain.SiteStatus{domain.SiteEnabled, domain.SitePending, domain.SiteDisabled, domain.SiteFailed, domain.SiteDeleted}

func (u *ui) sitesPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	d := sitesView{
		Q: c.Query("q"), Status: c.Query("status"), Platform: c.Query("platform_id"),
		Client: c.Query("client_id"), Server: c.Query("server_id"), Statuses: siteStatuses,
	}
	if len(d.Q) > 253 {
		d.Q = d.Q[:253]
	}
	offset := uiOffset(c)
	f := store.SiteFilter{
		Query: d.Q, Status: domain.SiteStatus(d.Status), PlatformID: d.Platform, ClientID: d.Client,
		Offset: offset, Limit: uiPageSize,
	}
	if v.Admin {
		f.ServerID = d.Server
	}
	p, err := u.ctl.Sites.List(ctx, actor(c), f)
	if err != nil {
		return err
	}
	if d.L, err = u.lookups(ctx); err != nil {
		return err
	}
	if d.Items, err = u.siteRows(ctx, actor(c), p.Items, d.L); err != nil {
		return err
	}
	d.Pager = newPager(c, offset, len(p.Items), p.Total)
	d.Platforms, d.Clients = sortedPlatforms(d.L), visibleClients(d.L, actor(c))
	if v.Admin {
		d.Servers = sortedServers(d.L)
	}
	v.Title, v.Nav = "Sites", "sites"
	return u.render(c, "sites", v, d)
}

type siteView struct {
	Site       *domain.Site
	Visit      string
	L          *lookups
	Platform   domain.Platform
	Tasks      []domain.Task
	TaskTotal  int
	Active     *domain.Task
	Backups    []domain.Backup
	Packages   []packageRow
	Actions    map[string]bool
	Platforms  []domain.Platform
	DBServers  []domain.Server
	Clients    []domain.Client
	StatsChart any
	Cron       []queue.Output
	// InstallFrom is the backup the site's newest install restored (a site
	// brought back from a backup): retrying the install restores it again.
	InstallFrom string
}

func (u *ui) loadSite(c *fiber.Ctx) (*domain.Site, error) {
	return u.ctl.Sites.Get(c.UserContext(), actor(c), idParam(c))
}

func (u *ui) sitePage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	site, err := u.loadSite(c)
	if err != nil {
		return err
	}
	d := siteView{Site: site, Actions: map[string]bool{}}
	if d.L, err = u.lookups(ctx); err != nil {
		return err
	}
	d.Platform = d.L.Platforms[site.PlatformID]
	d.Visit = u.visitURL(ctx, site, d.L, map[string]int{})
	if d.Tasks, d.TaskTotal, err = u.ctl.Tasks.Of(ctx, actor(c), domain.TargetSite, site.ID, 15); err != nil {
		return err
	}
	for _, t := range d.Tasks { // newest first
		if t.Type == domain.TaskInstall {
			d.InstallFrom = t.Args["backup_id"]
			break
		}
	}
	for i := range d.Tasks {
		if !d.Tasks[i].Status.Done() {
			d.Active = &d.Tasks[i]
		}
	}
	if d.Backups, err = u.ctl.Backups.List(ctx, actor(c), site.ID); err != nil {
		return err
	}
	if len(d.Backups) > 20 {
		d.Backups = d.Backups[:20]
	}
	if d.Packages, err = u.packageRows(ctx, domain.TargetSite, site.ID); err != nil {
		return err
	}
	for _, s := range taskspec.Available(taskspec.SiteTarget(site)) {
		d.Actions[string(s.Type)] = true
	}
	d.Platforms = sortedPlatforms(d.L)
	d.DBServers = u.dbServers(ctx, d.L)
	d.Clients = visibleClients(d.L, actor(c))
	if d.StatsChart, d.Cron, err = u.siteStats(ctx, actor(c), site.ID); err != nil {
		return err
	}
	v.Title, v.Nav = site.Domain, "sites"
	return u.render(c, "site", v, d)
}

// dbServers are the servers with a database service.
func (u *ui) dbServers(ctx context.Context, l *lookups) []domain.Server {
	var out []domain.Server
	for _, s := range sortedServers(l) {
		if _, err := u.st.ServiceOf(ctx, s.ID, domain.ServiceDB); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// webServers are the servers with a web service.
func (u *ui) webServers(ctx context.Context, l *lookups) []domain.Server {
	var out []domain.Server
	for _, s := range sortedServers(l) {
		if _, err := u.st.ServiceOf(ctx, s.ID, domain.ServiceHTTP); err == nil {
			out = append(out, s)
		}
	}
	return out
}

type siteFormView struct {
	Site      *domain.Site
	Platforms []domain.Platform
	DBServers []domain.Server
	Clients   []domain.Client
	Aliases   string
	// Gone are backups of deleted sites (newest first, at most
	// uiPageSize): a site can come back from one.
	Gone []domain.Backup
}

func (u *ui) siteNewPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	l, err := u.lookups(ctx)
	if err != nil {
		return err
	}
	// A refused form comes back here with what was typed in the query.
	site := &domain.Site{
		Domain: c.Query("domain"), PlatformID: c.Query("platform_id"), DBServerID: c.Query("db_server_id"),
		ClientID: c.Query("client_id"), Profile: c.Query("profile"), RedirectAliases: c.Query("redirect_aliases") == "on",
	}
	d := siteFormView{Site: site, Platforms: sortedPlatforms(l), Clients: visibleClients(l, actor(c)), Aliases: c.Query("aliases")}
	// The only client is the one; with several, none is chosen for the
	// person (the alphabetically first is no better a guess than any).
	if len(d.Clients) == 1 {
		site.ClientID = d.Clients[0].ID
	}
	d.DBServers = u.dbServers(ctx, l)
	if d.Gone, err = u.deletedSitesBackups(ctx, actor(c)); err != nil {
		return err
	}
	v.Title, v.Nav = "New site", "sites"
	return u.render(c, "site_new", v, d)
}

// deletedSitesBackups lists the backups a of sites that no longer exist,
// newest first, at most uiPageSize.
func (u *ui) deletedSitesBackups(ctx context.Context, a control.Actor) ([]domain.Backup, error) {
	all, err := u.ctl.Backups.List(ctx, a, "")
	if err != nil {
		return nil, err
	}
	gone := map[string]bool{}
	var out []domain.Backup
	for _, b := range all {
		g, seen := gone[b.SiteID]
		if !seen {
			_, err := u.st.GetSite(ctx, b.SiteID)
			g = errors.Is(err, domain.ErrNotFound)
			gone[b.SiteID] = g
		}
		if g && len(out) < uiPageSize {
			out = append(out, b)
		}
	}
	return out, nil
}

func (u *ui) siteEditPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	site, err := u.loadSite(c)
	if err != nil {
		return err
	}
	l, err := u.lookups(ctx)
	if err != nil {
		return err
	}
	d := siteFormView{Site: site, Clients: visibleClients(l, actor(c)), Aliases: strings.Join(site.Aliases, "\n")}
	v.Title, v.Nav = "Edit "+site.Domain, "sites"
	return u.render(c, "site_edit", v, d)
}

// --- platforms ---

type platformRow struct {
	domain.Platform
	Sites int
}

type platformsView struct {
	Items []platformRow
	L     *lookups
}

func (u *ui) platformsPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	l, err := u.lookups(ctx)
	if err != nil {
		return err
	}
	d := platformsView{L: l}
	for _, p := range sortedPlatforms(l) {
		sp, err := u.ctl.Sites.List(ctx, actor(c), store.SiteFilter{PlatformID: p.ID, Limit: 1})
		if err != nil {
			return err
		}
		d.Items = append(d.Items, platformRow{p, sp.Total})
	}
	v.Title, v.Nav = "Platforms", "platforms"
	return u.render(c, "platforms", v, d)
}

type platformView struct {
	Platform  *domain.Platform
	L         *lookups
	Sites     []domain.Site
	SiteTotal int
	Tasks     []domain.Task
	Packages  []packageRow
	Clients   []domain.Client
	DBServers []domain.Server
	// MoveTo are the platforms its sites may migrate to (same type, not
	// locked, not itself).
	MoveTo []domain.Platform
}

func (u *ui) platformPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	p, err := u.ctl.Platforms.Get(ctx, actor(c), idParam(c))
	if err != nil {
		return err
	}
	d := platformView{Platform: p}
	if d.L, err = u.lookups(ctx); err != nil {
		return err
	}
	sp, err := u.ctl.Sites.List(ctx, actor(c), store.SiteFilter{PlatformID: p.ID, Limit: uiPageSize})
	if err != nil {
		return err
	}
	d.Sites, d.SiteTotal = sp.Items, sp.Total
	if v.Admin {
		if d.Tasks, _, err = u.ctl.Tasks.Of(ctx, actor(c), domain.TargetPlatform, p.ID, 15); err != nil {
			return err
		}
		d.Clients = visibleClients(d.L, actor(c))
		d.DBServers = u.dbServers(ctx, d.L)
		for _, o := range d.L.Platforms {
			if o.ID != p.ID && o.Type == p.Type && !o.Locked && o.Status != domain.PlatformDeleted {
				d.MoveTo = append(d.MoveTo, o)
			}
		}
		slices.SortFunc(d.MoveTo, func(a, b domain.Platform) int { return strings.Compare(a.Name, b.Name) })
	}
	if d.Packages, err = u.packageRows(ctx, domain.TargetPlatform, p.ID); err != nil {
		return err
	}
	v.Title, v.Nav = "Platform "+p.Name, "platforms"
	return u.render(c, "platform", v, d)
}

type platformFormView struct {
	WebServers []domain.Server
	Types      []domain.PlatformType
}

func (u *ui) platformNewPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	l, err := u.lookups(ctx)
	if err != nil {
		return err
	}
	d := platformFormView{WebServers: u.webServers(ctx, l), Types: platform.Names()}
	v.Title, v.Nav = "New platform", "platforms"
	return u.render(c, "platform_new", v, d)
}

// --- servers ---

type serversView struct {
	Items []serverHealth
}

func (u *ui) serversPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	servers, err := u.ctl.Servers.List(ctx, actor(c))
	if err != nil {
		return err
	}
	var d serversView
	for _, s := range servers {
		svcs, err := u.ctl.Services.Of(ctx, actor(c), s.ID)
		if err != nil {
			return err
		}
		d.Items = append(d.Items, serverHealth{s, svcs})
	}
	v.Title, v.Nav = "Servers", "servers"
	return u.render(c, "servers", v, d)
}

type serviceRow struct {
	domain.Service
	SettingsText string
	Doc          []settingDoc // every setting of the kind (service_settings.go)
}

type serverView struct {
	Server   *domain.Server
	Services []serviceRow
	Tasks    []domain.Task
	Kinds    []domain.ServiceKind
	KindDocs []kindDoc // every kind's settings, for "Add a service"
	Sites    int
}

func (u *ui) serverPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	srv, err := u.ctl.Servers.Get(ctx, actor(c), idParam(c))
	if err != nil {
		return err
	}
	d := serverView{Server: srv, Kinds: domain.ServiceKinds(), KindDocs: kindDocs()}
	svcs, err := u.ctl.Services.Of(ctx, actor(c), srv.ID)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		d.Services = append(d.Services, serviceRow{s, settingsText(s.Settings), settingDocs(s)})
	}
	if d.Tasks, _, err = u.ctl.Tasks.Of(ctx, actor(c), domain.TargetServer, srv.ID, 15); err != nil {
		return err
	}
	sp, err := u.ctl.Sites.List(ctx, actor(c), store.SiteFilter{ServerID: srv.ID, Limit: 1})
	if err != nil {
		return err
	}
	d.Sites = sp.Total
	v.Title, v.Nav = "Server "+srv.Name, "servers"
	return u.render(c, "server", v, d)
}

func (u *ui) serverNewPage(c *fiber.Ctx, v *view) error {
	v.Title, v.Nav = "New server", "servers"
	return u.render(c, "server_new", v, serverView{Kinds: domain.ServiceKinds()})
}

func settingsText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + m[k] + "\n")
	}
	return b.String()
}

// --- clients ---

type clientRow struct {
	domain.Client
	Sites int
}

func (u *ui) clientsPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	all, err := u.ctl.Clients.List(ctx, actor(c))
	if err != nil {
		return err
	}
	var rows []clientRow
	for _, cl := range all {
		p, err := u.ctl.Sites.List(ctx, actor(c), store.SiteFilter{ClientID: cl.ID, Limit: 1})
		if err != nil {
			return err
		}
		rows = append(rows, clientRow{cl, p.Total})
	}
	d := clientsView{Rows: rows}
	if v.Admin {
		qd, err := u.ctl.Clients.Defaults(ctx, actor(c))
		if err != nil {
			return err
		}
		d.DefaultsVersion = qd.Version
		d.Defaults = quotaRows(&apiv1.ClientQuota{Defaults: qd.Config, Overrides: qd.Overrides, Limits: qd.Defaults})
	}
	v.Title, v.Nav = "Clients", "clients"
	return u.render(c, "clients", v, d)
}

// clientsView is the clients page: the clients and, for admins, the
// default quotas (Default: the configuration's, Own: the admin's, Limit:
// the result).
type clientsView struct {
	Rows            []clientRow
	Defaults        []quotaRow
	DefaultsVersion uint64
}

type clientView struct {
	Client *domain.Client
	Sites  []domain.Site
	Total  int
	L      *lookups
	Quotas []quotaRow
}

// quotaRow is one quota on the client's page: what the client holds, the
// limit that applies ("no limit" for 0), whether it is the client's own
// or the default, and the override as the admin's form shows it.
type quotaRow struct {
	Name, Used, Limit, Default, Own string
}

func quotaRows(q *apiv1.ClientQuota) []quotaRow {
	show := func(n string, v int64) string {
		if v == 0 {
			return "no limit"
		}
		return domain.FormatQuota(n, v)
	}
	rows := make([]quotaRow, 0, len(domain.QuotaNames))
	for _, n := range domain.QuotaNames {
		r := quotaRow{Name: n, Used: domain.FormatQuota(n, q.Usage[n]), Limit: show(n, q.Limits[n]), Default: show(n, q.Defaults[n])}
		if v, ok := q.Overrides[n]; ok {
			r.Own = domain.FormatQuota(n, v)
		}
		rows = append(rows, r)
	}
	return rows
}

func (u *ui) clientPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	cl, err := u.ctl.Clients.Get(ctx, actor(c), idParam(c))
	if err != nil {
		return err
	}
	d := clientView{Client: cl}
	p, err := u.ctl.Sites.List(ctx, actor(c), store.SiteFilter{ClientID: cl.ID, Limit: uiPageSize})
	if err != nil {
		return err
	}
	d.Sites, d.Total = p.Items, p.Total
	if d.L, err = u.lookups(ctx); err != nil {
		return err
	}
	q, err := u.ctl.Clients.Quota(ctx, actor(c), cl.ID)
	if err != nil {
		return err
	}
	d.Quotas = quotaRows(q)
	v.Title, v.Nav = "Client "+cl.Name, "clients"
	return u.render(c, "client", v, d)
}

func (u *ui) clientNewPage(c *fiber.Ctx, v *view) error {
	v.Title, v.Nav = "New client", "clients"
	return u.render(c, "client_new", v, nil)
}

// --- packages ---

// packageRow is one release of a package and where it is installed.
type packageRow struct {
	Package   domain.Package
	Release   string
	Platforms []domain.Platform
	Sites     int
	Enabled   bool
	Schema    string
}

// packageRows lists the package releases on one target (kind/id), or on
// everything the user can see when id is empty.
func (u *ui) packageRows(ctx context.Context, kind domain.TargetKind, id string) ([]packageRow, error) {
	pkgs, err := u.st.ListPackages(ctx)
	if err != nil {
		return nil, err
	}
	rels, err := u.st.ListReleases(ctx)
	if err != nil {
		return nil, err
	}
	ins, err := u.st.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, nil
	}
	pkgByID := map[string]domain.Package{}
	for _, p := range pkgs {
		pkgByID[p.ID] = p
	}
	relByID := map[string]domain.PackageRelease{}
	for _, r := range rels {
		relByID[r.ID] = r
	}
	rows := map[string]*packageRow{}
	var order []string
	for _, in := range ins {
		if id != "" && (in.TargetKind != kind || in.TargetID != id) {
			continue
		}
		row := rows[in.ReleaseID]
		if row == nil {
			row = &packageRow{Package: pkgByID[in.PackageID], Release: relByID[in.ReleaseID].Release}
			rows[in.ReleaseID] = row
			order = append(order, in.ReleaseID)
		}
		row.Enabled = row.Enabled || in.Enabled
		row.Schema = firstOf(row.Schema, in.SchemaVersion)
		switch in.TargetKind {
		case domain.TargetPlatform:
			if p, err := u.st.GetPlatform(ctx, in.TargetID); err == nil {
				row.Platforms = append(row.Platforms, *p)
			}
		case domain.TargetSite:
			row.Sites++
		}
	}
	out := make([]packageRow, 0, len(order))
	for _, k := range order {
		out = append(out, *rows[k])
	}
	slices.SortFunc(out, func(a, b packageRow) int {
		return cmpStrings(a.Package.Name+"\x00"+a.Release, b.Package.Name+"\x00"+b.Release)
	})
	return out, nil
}

func cmpStrings(a, b string) int { return strings.Compare(a, b) }

func (u *ui) packagesPage(c *fiber.Ctx, v *view) error {
	rows, err := u.packageRows(c.UserContext(), "", "")
	if err != nil {
		return err
	}
	if !v.Admin {
		// Site counts span every client; a client user sees the
		// platform-level list without them.
		for i := range rows {
			rows[i].Sites = 0
		}
	}
	v.Title, v.Nav = "Packages", "packages"
	return u.render(c, "packages", v, rows)
}

// --- tasks ---

type tasksView struct {
	Items  []domain.Task
	Pager  pager
	Status string
	Type   string
	Target string
	Types  []domain.TaskType
	Stati  []domain.TaskStatus
}

var taskStatuses = []domain.TaskStatus{domain.TaskQueued, domain.TaskRunning, domain.TaskSucceeded, domain.TaskFailed, domain.TaskCancelled}

func (u *ui) tasksPage(c *fiber.Ctx, v *view) error {
	offset := uiOffset(c)
	d := tasksView{Status: c.Query("status"), Type: c.Query("type"), Target: c.Query("target_id")}
	for _, k := range []domain.TargetKind{domain.TargetSite, domain.TargetPlatform, domain.TargetServer} {
		d.Types = append(d.Types, taskspec.Types(k)...)
	}
	p, err := u.ctl.Tasks.List(c.UserContext(), actor(c), store.TaskFilter{
		Status: domain.TaskStatus(d.Status), Type: domain.TaskType(d.Type), TargetID: d.Target,
		Offset: offset, Limit: uiPageSize,
	})
	if err != nil {
		return err
	}
	d.Items, d.Pager = p.Items, newPager(c, offset, len(p.Items), p.Total)
	d.Stati = taskStatuses
	v.Title, v.Nav = "Tasks", "tasks"
	return u.render(c, "tasks", v, d)
}

type taskView struct {
	Task    *domain.Task
	Lines   []logbus.Line
	LastID  string
	NoLog   bool
	Target  string // link to the target's page
	Retry   bool
	Cancel  bool
	LogDone bool
	// Children are a batch's child tasks (migrate-sites), newest first;
	// Done counts those that succeeded.
	Children []domain.Task
	Done     int
}

func (u *ui) taskPage(c *fiber.Ctx, v *view) error {
	t, err := u.ctl.Tasks.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	d := taskView{Task: t}
	if spec, ok := taskspec.Lookup(t.Type); ok && spec.Coordinates {
		page, err := u.ctl.Tasks.List(c.UserContext(), actor(c), store.TaskFilter{Parent: t.ID, Limit: 1000})
		if err != nil {
			return err
		}
		d.Children = page.Items
		for _, ch := range d.Children {
			if ch.Status == domain.TaskSucceeded {
				d.Done++
			}
		}
	}
	switch t.TargetKind {
	case domain.TargetSite:
		d.Target = "/sites/" + t.TargetID
	case domain.TargetPlatform:
		d.Target = "/platforms/" + t.TargetID
	case domain.TargetServer:
		if v.Admin {
			d.Target = "/servers/" + t.TargetID
		}
	}
	if u.logs == nil {
		d.NoLog = true
	} else {
		lines, done, err := u.logs.Read(c.UserContext(), t.ID, "", api.LogPageMax, 0)
		switch {
		case errors.Is(err, logbus.ErrNoLog):
			d.LogDone = t.Status.Done()
		case err != nil:
			return err
		default:
			redact, err := u.ctl.Tasks.Redactor(c.UserContext(), actor(c))
			if err != nil {
				return err
			}
			d.Lines, d.LogDone = api.RedactLines(redact, lines), done
		}
		if n := len(d.Lines); n > 0 {
			d.LastID = d.Lines[n-1].ID
		}
	}
	d.Cancel = !t.Status.Done()
	d.Retry = (t.Status == domain.TaskFailed || t.Status == domain.TaskCancelled) && (v.Admin || t.TargetKind == domain.TargetSite)
	v.Title, v.Nav = string(t.Type)+" "+t.TargetName, "tasks"
	return u.render(c, "task", v, d)
}

// --- users and tokens ---

type usersView struct {
	Items   []domain.User
	Clients []domain.Client
	L       *lookups
}

func (u *ui) usersPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	all, err := u.st.ListUsers(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b domain.User) int { return strings.Compare(a.Name, b.Name) })
	l, err := u.lookups(ctx)
	if err != nil {
		return err
	}
	v.Title, v.Nav = "Users", "users"
	return u.render(c, "users", v, usersView{Items: all, Clients: visibleClients(l, actor(c)), L: l})
}

type userView struct {
	Edit    *domain.User
	Clients []domain.Client
	Tokens  []domain.Token
	HasPass bool
}

func (u *ui) userPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	usr, err := u.ctl.Users.Get(ctx, actor(c), idParam(c))
	if err != nil {
		return err
	}
	l, err := u.lookups(ctx)
	if err != nil {
		return err
	}
	toks, err := u.ctl.Tokens.List(ctx, actor(c), usr.ID)
	if err != nil {
		return err
	}
	d := userView{Edit: control.Public(usr), Clients: visibleClients(l, actor(c)), Tokens: toks, HasPass: usr.PasswordHash != ""}
	v.Title, v.Nav = "User "+usr.Name, "users"
	return u.render(c, "user", v, d)
}

type tokensView struct {
	Items  []domain.Token
	Users  map[string]string
	Secret string
	Made   *domain.Token
}

func (u *ui) tokensPage(c *fiber.Ctx, v *view) error {
	d, err := u.tokensData(c, v)
	if err != nil {
		return err
	}
	v.Title, v.Nav = "API tokens", "tokens"
	return u.render(c, "tokens", v, d)
}

func (u *ui) tokensData(c *fiber.Ctx, v *view) (*tokensView, error) {
	ctx := c.UserContext()
	toks, err := u.ctl.Tokens.List(ctx, actor(c), "")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(toks, func(a, b domain.Token) int { return strings.Compare(b.ID, a.ID) })
	d := &tokensView{Items: toks, Users: map[string]string{v.User.ID: v.User.Name}}
	if v.Admin {
		us, err := u.ctl.Users.List(ctx, actor(c))
		if err != nil {
			return nil, err
		}
		for _, x := range us {
			d.Users[x.ID] = x.Name
		}
	}
	return d, nil
}
