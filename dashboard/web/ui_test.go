package web

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/scheduler/queue"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h1, err := HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("a long enough password")
	if h1 == h2 || !strings.HasPrefix(h1, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hashes %q %q: want distinct salts, argon2id", h1, h2)
	}
	if !VerifyPassword(h1, "a long enough password") || VerifyPassword(h1, "a long enough passwore") {
		t.Fatal("verify")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", strings.Replace(h1, "m=19456", "m=99999999", 1), h1[:len(h1)-4]} {
		if VerifyPassword(bad, "a long enough password") {
			t.Errorf("verified against %q", bad)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("short password accepted")
	}
}

func TestSeriesCharts(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	pts := []queue.Point{
		{At: now.Add(-2 * time.Hour), Figures: map[string]float64{"disk_bytes": 1000, "<b>": 1}},
		{At: now, Figures: map[string]float64{"disk_bytes": 25000}},
	}
	got := string(seriesCharts(pts))
	// Bytes are shown in binary units, titled by what they measure.
	if !strings.Contains(got, "disk size") || !strings.Contains(got, "latest 24.4 KiB") || !strings.Contains(got, ">0 B<") || strings.Contains(got, "<b>") || !strings.Contains(got, "&lt;b&gt;") {
		t.Fatalf("chart: %s", got)
	}
	if strings.Count(got, "<circle") != 3 {
		t.Errorf("want a dot per measured point: %s", got)
	}
}

func TestFigureUnits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		v    float64
		want string
	}{
		{"disk_bytes", 4096, "4.0 KiB"},
		{"db_bytes", 512, "512 B"},
		{"db_dump_bytes", 3 << 30, "3.0 GiB"},
		{"cron_seconds", 2.5, "2.50 s"},
		{"users", 12, "12"},
		{"nodes", 25000, "25.0k"},
	} {
		if got := figure(c.name, c.v); got != c.want {
			t.Errorf("figure(%q, %v) = %q, want %q", c.name, c.v, got, c.want)
		}
	}
	if got := figureLabel("db_dump_bytes"); got != "db dump size" {
		t.Errorf("figureLabel = %q", got)
	}
}

func TestSiteURL(t *testing.T) {
	t.Parallel()
	for port, want := range map[int]string{
		0: "http://a.example/", 80: "http://a.example/", 443: "https://a.example/", 8481: "http://a.example:8481/",
	} {
		if got := siteURL("a.example", port); got != want {
			t.Errorf("siteURL(%d) = %q, want %q", port, got, want)
		}
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	for _, s := range []string{"/", "/sites", "//evil", "/\\evil", "http://x", "/a\r\nb", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !localPath(s) {
			return
		}
		u, err := url.Parse(s)
		if err == nil && (u.Host != "" || u.Scheme != "") {
			t.Fatalf("%q is local but parses with host %q scheme %q", s, u.Host, u.Scheme)
		}
	})
}
