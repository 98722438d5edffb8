package web

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
)

// siteRow is one line of the sites list: the site, where to visit it, and
// what an operator scans the list for (disk use, last backup, health).
type siteRow struct {
	domain.Site
	Visit      string     // "" when the site does not serve
	Disk       int64      // bytes of files and database, the stats queue's last measure; -1 unknown
	LastBackup *time.Time // nil: never backed up
	Health     string     // "ok", "failing" or "" (nothing finished yet)
	HealthTask *domain.Task
}

// visitURL is where a site answers: its domain on its web server's port,
// http (https on 443). "" for a site that does not serve: pending,
// failed or deleted.
func (u *ui) visitURL(ctx context.Context, site *domain.Site, l *lookups, ports map[string]int) string {
	if site.Status != domain.SiteEnabled && site.Status != domain.SiteDisabled {
		return ""
	}
	srv := l.Platforms[site.PlatformID].WebServerID
	port, ok := ports[srv]
	if !ok {
		port = 0
		if svc, err := u.st.ServiceOf(ctx, srv, domain.ServiceHTTP); err == nil {
			port = svc.Port
		}
		ports[srv] = port
	}
	return siteURL(site.Domain, port)
}

// siteURL is http://domain, with the port unless it is the scheme's own.
func siteURL(host string, port int) string {
	switch port {
	case 0, 80:
		return "http://" + host + "/"
	case 443:
		return "https://" + host + "/"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
}

// siteRows adds to a page of sites their visit link, disk use, newest
// backup and the outcome of their newest finished task. A page is at most
// uiPageSize sites: one backup listing, one stats read per site and one
// batched task-index read for the page.
func (u *ui) siteRows(ctx context.Context, a control.Actor, sites []domain.Site, l *lookups) ([]siteRow, error) {
	rows := make([]siteRow, len(sites))
	if len(sites) == 0 {
		return rows, nil
	}
	figs, err := u.ctl.Queues.LatestFigures(ctx, a, sites)
	if err != nil {
		return nil, err
	}
	backups, err := u.ctl.Backups.List(ctx, a, "")
	if err != nil {
		return nil, err
	}
	newest := map[string]time.Time{}
	for _, b := range backups {
		if t, ok := newest[b.SiteID]; !ok || b.CreatedAt.After(t) {
			newest[b.SiteID] = b.CreatedAt
		}
	}
	// The sites were listed for a, so they are a's to see: the task index
	// directly, without loading each site again, and for the whole page in
	// one pass over the mirrored tasks rather than one per row.
	ids := make([]string, len(sites))
	for i := range sites {
		ids[i] = sites[i].ID
	}
	recent, err := u.st.NewestTasksOf(ctx, domain.TargetSite, ids, 5)
	if err != nil {
		return nil, err
	}
	ports := map[string]int{}
	for i, s := range sites {
		r := siteRow{Site: s, Disk: -1}
		r.Visit = u.visitURL(ctx, &s, l, ports)
		if f, ok := figs[s.ID]; ok {
			if v, ok := f["disk_bytes"]; ok {
				r.Disk = int64(v)
				if db, ok := f["db_bytes"]; ok {
					r.Disk += int64(db)
				}
			}
		}
		if t, ok := newest[s.ID]; ok {
			r.LastBackup = &t
		}
		tasks := recent[s.ID]
		for j := range tasks {
			t := tasks[j]
			if !t.Status.Done() || t.Status == domain.TaskCancelled {
				continue
			}
			r.HealthTask = &t
			r.Health = "ok"
			if t.Status == domain.TaskFailed {
				r.Health = "failing"
			}
			break
		}
		if s.Status == domain.SiteFailed {
			r.Health = "failing"
		}
		rows[i] = r
	}
	return rows, nil
}
