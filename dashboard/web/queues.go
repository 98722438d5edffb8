package web

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/scheduler/queue"
)

// The periodic queues in the dashboard: their state on the overview, a
// page to change their settings and start a pass, a site's statistics and
// cron output on its page, and backup download and delete.

// queueStatuses returns the queues' state, or nil when this server has no
// queues or the user is not an admin (the API's rule).
func (u *ui) queueStatuses(ctx context.Context, a control.Actor) ([]queue.Status, error) {
	if !u.ctl.Queues.Available() || !a.Admin() {
		return nil, nil
	}
	return u.ctl.Queues.List(ctx, a)
}

type queuesView struct {
	Items []queue.Status
}

func (u *ui) queuesPage(c *fiber.Ctx, v *view) error {
	items, err := u.ctl.Queues.List(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	v.Title, v.Nav = "Periodic queues", "queues"
	return u.render(c, "queues", v, queuesView{Items: items})
}

func formDuration(c *fiber.Ctx, field string, into *queue.Duration) error {
	s := strings.TrimSpace(c.FormValue(field))
	if s == "" {
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return domain.Invalid(field, "use a duration such as 1h or 15m")
	}
	*into = queue.Duration(d)
	return nil
}

// queueUpdate changes the settings the form shows and keeps the others
// (timeout, backoff, retention, cron path) as they are.
func (u *ui) queueUpdate(c *fiber.Ctx, v *view) error {
	if !u.ctl.Queues.Available() {
		return control.Unavailable("the periodic queues")
	}
	name := idParam(c)
	if !queue.Known(name) {
		return errNotFoundPage
	}
	ctx := c.UserContext()
	set, err := u.ctl.Queues.Settings(ctx, actor(c), name)
	if err != nil {
		return err
	}
	ver, err := strconv.ParseUint(c.FormValue("version"), 10, 64)
	if err != nil {
		return domain.Invalid("version", "is missing; reload the page and try again")
	}
	set.Version = ver
	set.Enabled = c.FormValue("enabled") == "on"
	if err := formDuration(c, "frequency", &set.Frequency); err != nil {
		return err
	}
	if err := formDuration(c, "interval", &set.Interval); err != nil {
		return err
	}
	if s := strings.TrimSpace(c.FormValue("concurrency")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return domain.Invalid("concurrency", "must be a whole number of 1 or more")
		}
		set.Concurrency = n
	}
	if _, err := u.ctl.Queues.PutSettings(ctx, actor(c), name, set); err != nil {
		return err
	}
	return u.done(c, "/queues", "Saved the %s queue's settings.", name)
}

// queueRun starts a pass, as the API does, and goes back to the queues
// page, which shows its progress (app.js follows it).
func (u *ui) queueRun(c *fiber.Ctx, v *view) error {
	if !u.ctl.Queues.Available() {
		return control.Unavailable("the periodic queues")
	}
	name := idParam(c)
	if !queue.Known(name) {
		return errNotFoundPage
	}
	if _, err := u.ctl.Queues.StartPass(c.UserContext(), actor(c), name); err != nil {
		return err
	}
	return u.done(c, "/queues#queue-"+name, "Started a pass of the %s queue; its progress shows below.", name)
}

// siteStats returns the site's statistics charts and last cron outputs,
// or an empty state.
func (u *ui) siteStats(ctx context.Context, a control.Actor, siteID string) (template.HTML, []queue.Output, error) {
	empty := emptyChart("No statistics yet", "Charts appear here once the stats queue has measured this site.")
	if !u.ctl.Queues.Available() {
		return empty, nil, nil
	}
	_, pts, outs, err := u.ctl.Queues.SiteStats(ctx, a, siteID)
	if err != nil {
		return "", nil, err
	}
	slices.SortFunc(outs, func(a, b queue.Output) int { return b.At.Compare(a.At) })
	if len(outs) > 5 {
		outs = outs[:5]
	}
	if len(pts) == 0 {
		return empty, outs, nil
	}
	return seriesCharts(pts), outs, nil
}

// seriesCharts draws one small line chart per figure (at most four), each
// on its own scale.
func seriesCharts(pts []queue.Point) template.HTML {
	var names []string
	for _, p := range pts {
		for k := range p.Figures {
			if !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	if len(names) > 4 {
		names = names[:4]
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(string(lineChart(n, pts)))
	}
	return template.HTML(b.String())
}

func lineChart(name string, pts []queue.Point) template.HTML {
	const w, h, padL, padB, padT = 720, 140, 72, 24, 24
	var xs []time.Time
	var ys []float64
	maxV := 0.0
	for _, p := range pts {
		v, ok := p.Figures[name]
		if !ok || v < 0 {
			continue
		}
		xs, ys = append(xs, p.At), append(ys, v)
		maxV = max(maxV, v)
	}
	if len(xs) == 0 {
		return ""
	}
	if maxV == 0 {
		maxV = 1
	}
	t0, t1 := xs[0], xs[len(xs)-1]
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	plotW, plotH := float64(w-padL-8), float64(h-padT-padB)
	var line, dots strings.Builder
	for i := range xs {
		x := float64(padL) + plotW*xs[i].Sub(t0).Seconds()/span
		if len(xs) == 1 {
			x = float64(padL) + plotW
		}
		y := float64(padT) + plotH*(1-ys[i]/maxV)
		if len(xs) <= 60 || i == len(xs)-1 {
			fmt.Fprintf(&dots, `<circle class="dot" cx="%.1f" cy="%.1f" r="3.5"><title>%s: %s</title></circle>`,
				x, y, xs[i].Format("Jan 2 15:04"), html.EscapeString(figure(name, ys[i])))
		}
		if i == 0 {
			fmt.Fprintf(&line, "M%.1f %.1f", x, y)
		} else {
			fmt.Fprintf(&line, " L%.1f %.1f", x, y)
		}
	}
	var b strings.Builder
	label := figureLabel(name)
	fmt.Fprintf(&b, `<svg class="chart line" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`, w, h, html.EscapeString(label), html.EscapeString(label))
	fmt.Fprintf(&b, `<text class="axis strong-axis" x="%d" y="16">%s</text>`, padL, html.EscapeString(label))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="16" text-anchor="end">latest %s</text>`, w-8, html.EscapeString(figure(name, ys[len(ys)-1])))
	for _, f := range []float64{0, 1} {
		y := float64(padT) + plotH*(1-f)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, w-8, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y+5, html.EscapeString(figure(name, maxV*f)))
	}
	fmt.Fprintf(&b, `<path class="series" d="%s"/>%s`, line.String(), dots.String())
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">%s</text><text class="axis" x="%d" y="%d" text-anchor="end">%s</text></svg>`,
		padL, h-4, t0.Format("Jan 2 15:04"), w-8, h-4, t1.Format("Jan 2 15:04"))
	return template.HTML(b.String())
}

// figure formats a value of the stats figure name in its unit: bytes in
// binary units ("disk_bytes": 4096 → "4.0 KiB"), seconds with an "s",
// anything else a count ("users": 12 → "12").
func figure(name string, v float64) string {
	switch {
	case strings.HasSuffix(name, "_bytes"):
		return humanBytes(int64(v))
	case strings.HasSuffix(name, "_seconds"):
		return humanNumber(v) + " s"
	}
	return humanNumber(v)
}

// figureLabel is a chart's title for the figure name: "disk_bytes" →
// "disk size", "db_dump_bytes" → "db dump size", "users" → "users".
func figureLabel(name string) string {
	switch {
	case strings.HasSuffix(name, "_bytes"):
		name = strings.TrimSuffix(name, "_bytes") + " size"
	case strings.HasSuffix(name, "_seconds"):
		name = strings.TrimSuffix(name, "_seconds") + " time"
	}
	return strings.ReplaceAll(name, "_", " ")
}

func humanNumber(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// backupDownload streams a backup archive to a user who may see its site.
func (u *ui) backupDownload() fiber.Handler { return u.sessionJSON(u.api.DownloadBackup) }

// backupDelete queues delete-backup after the domain is typed.
func (u *ui) backupDelete(c *fiber.Ctx, v *view) error {
	b, err := u.ctl.Backups.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	if err := confirmed(c, b.Domain); err != nil {
		return err
	}
	task, err := u.ctl.Backups.Delete(c.UserContext(), actor(c), b.ID)
	if err != nil {
		return err
	}
	to := "/sites/" + b.SiteID
	if task.TargetKind != domain.TargetSite {
		// The site is gone (delete-backup-of-deleted-site): follow the task.
		to = "/tasks/" + task.ID
	}
	if task.Status.Done() {
		// Its server is gone too: the record was removed at once; the
		// task's page says what became of the archive.
		return u.done(c, to, "Removed the record of the backup of %s taken %s.", b.Domain, b.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return u.done(c, to, "Deleting the backup of %s taken %s.", b.Domain, b.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"))
}
