package provision_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// BenchmarkVaultBackup measures what Vault's throwaway users add to a
// backup task: the same backup of the same MariaDB site, through the
// Runner with Vault as the secrets backend, once dumping with the static
// admin credentials (read from Vault) and once as a throwaway user (role
// check, child token, lease, driver, revoke), alternating in one loop.
//
//	go test ./internal/provision -run XXX -bench VaultBackup -benchtime 20x
func BenchmarkVaultBackup(b *testing.B) {
	s := setupVaultStack(b, domain.KindMariaDB)
	s.runner.Log = slog.New(slog.DiscardHandler)
	site, _, _ := s.install(b, "bench.example.com")
	name := "`s_" + site.ID + "`"
	s.query(b, "CREATE TABLE "+name+".pages (id int primary key, body text)")
	for i := range 20 {
		s.query(b, fmt.Sprintf("INSERT INTO %s.pages VALUES (%d, REPEAT('x', 10000))", name, i))
	}
	backup := func(hide bool) time.Duration {
		s.mu.Lock()
		s.hide = hide
		s.mu.Unlock()
		start := time.Now()
		res := s.runner.Run(context.Background(), s.vctx(domain.TaskBackup, site))
		d := time.Since(start)
		if res.Status != domain.TaskSucceeded {
			b.Fatalf("backup (static=%v): %s: %s", hide, res.ErrorCode, res.Explanation)
		}
		_ = os.RemoveAll(filepath.Join(s.dataDir, "backups"))
		return d
	}
	backup(false) // the first one writes the Vault role; not measured
	var static, vault time.Duration
	b.ResetTimer()
	for b.Loop() {
		static += backup(true)
		vault += backup(false)
	}
	n := float64(b.N)
	b.ReportMetric(static.Seconds()*1000/n, "static_ms/backup")
	b.ReportMetric(vault.Seconds()*1000/n, "vault_ms/backup")
	b.ReportMetric((vault-static).Seconds()*1000/n, "added_ms/backup")
	b.ReportMetric(0, "ns/op")
	if n := s.throwawayUsers(b); n != 0 {
		b.Fatalf("%d throwaway users left", n)
	}
}
