package web

import (
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// parsePages parses templates/layout.html with each page template into its
// own set, so every page defines its own "content" block.
func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("").Funcs(uiFuncs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		pages[name] = t
	}
	return pages, nil
}

var uiFuncs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"ago": func(t time.Time) string { return ago(time.Since(t)) },
	"took": func(t domain.Task) string {
		if t.StartedAt == nil {
			return ""
		}
		end := time.Now()
		if t.FinishedAt != nil {
			end = *t.FinishedAt
		}
		d := end.Sub(*t.StartedAt)
		if d < time.Second {
			return fmt.Sprintf("%dms", d.Milliseconds())
		}
		return d.Round(100 * time.Millisecond).String()
	},
	"size": humanBytes,
	"num": func(n int) string {
		s := fmt.Sprint(n)
		for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		return s
	},
	"done":  func(s domain.TaskStatus) bool { return s.Done() },
	"join":  strings.Join,
	"short": func(id string) string { return id[max(0, len(id)-8):] },
	"has": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
	"pct": func(n, total int) int {
		if total == 0 {
			return 0
		}
		return n * 100 / total
	},
	"eq2": func(a, b any) bool { return fmt.Sprint(a) == fmt.Sprint(b) },
	// dur writes 1h0m0s as 1h and 5m0s as 5m.
	"dur": func(d time.Duration) string {
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	},
}

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// humanBytes is a byte count in binary units: "512 B", "4.0 KiB", "1.5 GiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
