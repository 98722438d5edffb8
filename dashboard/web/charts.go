package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// Charts are inline SVG drawn here on the server: no script, no library,
// nothing fetched. Every number is formatted by fmt and every label passes
// through html.EscapeString, so the markup is safe to mark as template.HTML.

const (
	chartW, chartH       = 720, 200
	chartPadL, chartPadB = 40, 28
	chartPadT, chartPadR = 18, 8
)

type series struct {
	name, class string
	values      []int
}

// tasksPerHourChart draws finished tasks per hour over the last 24 hours,
// stacked by outcome.
func tasksPerHourChart(tasks []domain.Task, now time.Time) template.HTML {
	start := now.Truncate(time.Hour).Add(-23 * time.Hour)
	ok, failed, cancelled := make([]int, 24), make([]int, 24), make([]int, 24)
	total := 0
	for _, t := range tasks {
		if t.FinishedAt == nil || t.FinishedAt.Before(start) {
			continue
		}
		i := int(t.FinishedAt.Sub(start) / time.Hour)
		if i < 0 || i > 23 {
			continue
		}
		switch t.Status {
		case domain.TaskSucceeded:
			ok[i]++
		case domain.TaskFailed:
			failed[i]++
		case domain.TaskCancelled:
			cancelled[i]++
		}
		total++
	}
	if total == 0 {
		return emptyChart("No finished tasks in the last 24 hours", "Bars appear here as tasks finish.")
	}
	return stackedBars("Tasks per hour by outcome, last 24 hours", "tasks per hour", start, []series{
		{"succeeded", "s-ok", ok}, {"failed", "s-fail", failed}, {"cancelled", "s-cancel", cancelled},
	})
}

// backlogChart draws how many tasks waited in the queue at the end of each
// of the last 24 hours.
func backlogChart(tasks []domain.Task, now time.Time) template.HTML {
	start := now.Truncate(time.Hour).Add(-23 * time.Hour)
	vals := make([]int, 24)
	any := false
	for i := range vals {
		at := start.Add(time.Duration(i+1) * time.Hour)
		if at.After(now) {
			at = now
		}
		for _, t := range tasks {
			if t.CreatedAt.After(at) {
				continue
			}
			waiting := t.StartedAt == nil || t.StartedAt.After(at)
			if t.StartedAt == nil && t.FinishedAt != nil && !t.FinishedAt.After(at) {
				waiting = false // cancelled while queued
			}
			if waiting {
				vals[i]++
				any = true
			}
		}
	}
	if !any {
		return emptyChart("The queue was empty all day", "A line appears here when tasks wait for a runner.")
	}
	return stackedBars("Queued tasks at the end of each hour, last 24 hours", "tasks waiting", start, []series{{"queued", "s-queue", vals}})
}

// stackedBars draws ss as stacked bars, one per hour from start; unit
// names what the y axis counts.
func stackedBars(title, unit string, start time.Time, ss []series) template.HTML {
	n := len(ss[0].values)
	maxV := 1
	for i := 0; i < n; i++ {
		sum := 0
		for _, s := range ss {
			sum += s.values[i]
		}
		maxV = max(maxV, sum)
	}
	// An even top, so the middle gridline's label is a whole count.
	maxV += maxV % 2
	plotW := float64(chartW - chartPadL - chartPadR)
	plotH := float64(chartH - chartPadT - chartPadB)
	bw := plotW / float64(n)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`,
		chartW, chartH, html.EscapeString(title), html.EscapeString(title))
	fmt.Fprintf(&b, `<text class="axis unit" x="%d" y="%d">%s</text>`, chartPadL+4, chartPadT-1, html.EscapeString(unit))
	// Grid and the y axis: 0, half, max.
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(chartPadT) + plotH*(1-f)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartPadL, chartW-chartPadR, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%d</text>`, chartPadL-6, y+4, int(float64(maxV)*f+0.5))
	}
	for i := 0; i < n; i++ {
		x := float64(chartPadL) + float64(i)*bw
		y := float64(chartPadT) + plotH
		hour := start.Add(time.Duration(i) * time.Hour)
		var tip []string
		for _, s := range ss {
			v := s.values[i]
			tip = append(tip, fmt.Sprintf("%d %s", v, s.name))
			if v == 0 {
				continue
			}
			h := plotH * float64(v) / float64(maxV)
			y -= h
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="2"/>`, s.class, x+2, y, bw-4, h)
		}
		fmt.Fprintf(&b, `<rect class="hit" x="%.1f" y="%d" width="%.1f" height="%.1f"><title>%s UTC: %s</title></rect>`,
			x, chartPadT, bw, plotH, hour.Format("15:04"), html.EscapeString(strings.Join(tip, ", ")))
		if i%6 == 0 || i == n-1 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x+bw/2, chartH-8, hour.Format("15:04"))
		}
	}
	b.WriteString(`</svg>`)
	if len(ss) > 1 {
		b.WriteString(`<ul class="legend">`)
		for _, s := range ss {
			fmt.Fprintf(&b, `<li><span class="swatch %s"></span>%s</li>`, s.class, html.EscapeString(s.name))
		}
		b.WriteString(`</ul>`)
	}
	return template.HTML(b.String())
}

// emptyChart is the placeholder of a chart with nothing to show yet.
func emptyChart(title, hint string) template.HTML {
	return template.HTML(fmt.Sprintf(`<svg class="chart empty" viewBox="0 0 %d 120" role="img" aria-label="%s">`+
		`<rect class="empty-bg" x="1" y="1" width="%d" height="118" rx="8"/>`+
		`<text class="empty-title" x="%d" y="54" text-anchor="middle">%s</text>`+
		`<text class="empty-hint" x="%d" y="82" text-anchor="middle">%s</text></svg>`,
		chartW, html.EscapeString(title), chartW-2, chartW/2, html.EscapeString(title), chartW/2, html.EscapeString(hint)))
}
