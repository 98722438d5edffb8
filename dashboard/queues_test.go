package dashboard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/scheduler/queue"
)

func setupQueues(t *testing.T) *bundle {
	return setup(t, func(c *Config) {
		q, err := queue.New(queue.Config{Store: c.Store, Locker: locks.NewMemory(), Logger: c.Logger})
		if err != nil {
			t.Fatal(err)
		}
		c.Queues = q
	})
}

func TestQueuesAPI(t *testing.T) {
	t.Parallel()
	b := setupQueues(t)
	// No site is enabled yet, so a pass has nothing to wait for.
	if res, body := b.do("POST", "/api/v1/queues/backup/run", "admin", "", nil); res.StatusCode != 200 || !strings.Contains(string(body), `"due":0`) {
		t.Fatalf("run: %d %s", res.StatusCode, body)
	}
	b.enable(b.siteA.ID)
	// A backup of site A with its archive on disk.
	archive := filepath.Join(t.TempDir(), "a.tar.zst")
	if err := os.WriteFile(archive, []byte("zstd archive bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	bk := &domain.Backup{SiteID: b.siteA.ID, ClientID: b.siteA.ClientID, Domain: b.siteA.Domain, Path: archive, Size: 18, SHA256: "abc", Reason: "manual"}
	task, err := b.st.RequestSiteTask(t.Context(), b.siteA.ID, domain.TaskBackup, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	b.finish(task, domain.TaskSucceeded, store.AddBackup(bk))
	b.ids["backup"] = bk.ID

	cases := []struct {
		name, method, url, token, body string
		status                         int
		contains                       string
	}{
		{"list", "GET", "/api/v1/queues", "admin", "", 200, `"name":"backup"`},
		{"list: admins only", "GET", "/api/v1/queues", "alice", "", 403, "forbidden"},
		{"show", "GET", "/api/v1/queues/cron", "admin", "", 200, `"eligible":1`},
		{"show: unknown queue", "GET", "/api/v1/queues/mail", "admin", "", 404, "not_found"},
		{"set", "PUT", "/api/v1/queues/cron", "admin", `{"enabled":true,"frequency":"2h","interval":"10m","concurrency":4,"version":0}`, 200, `"frequency":"2h0m0s"`},
		{"set: stale version", "PUT", "/api/v1/queues/cron", "admin", `{"enabled":true,"frequency":"2h","version":0}`, 409, "conflict"},
		{"set: invalid", "PUT", "/api/v1/queues/stats", "admin", `{"frequency":"1h","interval":"2h","version":0}`, 400, "interval"},
		{"set: bad duration", "PUT", "/api/v1/queues/stats", "admin", `{"frequency":"soon","version":0}`, 400, ""},
		{"set: clients may not", "PUT", "/api/v1/queues/cron", "alice", `{"version":0}`, 404, "not_found"},
		{"run: clients may not", "POST", "/api/v1/queues/backup/run", "alice", "", 404, "not_found"},
		{"fleet stats", "GET", "/api/v1/stats", "admin", "", 200, `"points":[]`},
		{"site stats", "GET", "/api/v1/sites/{siteA}/stats", "alice", "", 200, `"cron":[]`},
		{"site stats: another client's site", "GET", "/api/v1/sites/{siteB}/stats", "alice", "", 404, "not_found"},
		{"backup", "GET", "/api/v1/backups/{backup}", "alice", "", 200, `"reason":"manual"`},
		{"backup: another client's", "GET", "/api/v1/backups/{backup}", "bob", "", 404, "not_found"},
		{"download", "GET", "/api/v1/backups/{backup}/download", "alice", "", 200, "zstd archive bytes"},
		{"download: another client's", "GET", "/api/v1/backups/{backup}/download", "bob", "", 404, "not_found"},
		{"delete queues delete-backup", "DELETE", "/api/v1/backups/{backup}", "alice", "", 202, `"type":"delete-backup"`},
	}
	for _, c := range cases {
		res, body := b.do(c.method, c.url, c.token, c.body, nil)
		if res.StatusCode != c.status || !strings.Contains(string(body), c.contains) {
			t.Errorf("%s: %d %s, want %d containing %q", c.name, res.StatusCode, body, c.status, c.contains)
		}
	}
}

func TestQueuesUnavailableWithoutQueues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res, body := b.do("GET", "/api/v1/queues", "admin", "", nil)
	if res.StatusCode != 503 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
}
