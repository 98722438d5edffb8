package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

func TestLoadLayers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "aegir.hcl")
	err := os.WriteFile(file, []byte(`
data_dir  = "/var/lib/aegir-test"
http_addr = "127.0.0.1:9000"
store {
  backend = "consul"
  consul { prefix = "custom/" }
}
executor {
  max_parallel = 8
  stop_timeout = "2m"
}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AEGIR_HTTP_ADDR": "127.0.0.1:9100", "CONSUL_HTTP_ADDR": "127.0.0.1:18500"}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse([]string{"-http-addr", "127.0.0.1:9200"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(ModeServer, file, func(k string) string { return env[k] }, fs)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9200" {
		t.Errorf("flag did not win: %s", c.HTTPAddr)
	}
	if c.Store.Consul.Address != "127.0.0.1:18500" || c.Store.Consul.Prefix != "custom/" {
		t.Errorf("consul = %+v", c.Store.Consul)
	}
	if c.DataDir != "/var/lib/aegir-test" || c.Executor.MaxParallel != 8 || c.SitesAddr != "127.0.0.1:8481" {
		t.Errorf("config = %+v", c)
	}
	if c.StopTimeoutDuration() != 2*time.Minute {
		t.Errorf("stop_timeout = %s", c.StopTimeoutDuration())
	}
}

func TestLoadDefaultsAndErrors(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	c, err := Load(ModeDev, "", none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Backend != "bolt" || c.Executor.Kind != "local" || !filepath.IsAbs(c.DataDir) {
		t.Errorf("dev defaults = %+v", c)
	}
	if c.StopTimeoutDuration() != 30*time.Second {
		t.Errorf("default stop_timeout = %s, want 30s", c.StopTimeoutDuration())
	}
	bad := map[string]string{"AEGIR_STORE": "mysql", "AEGIR_HTTP_ADDR": "nope"}
	_, err = Load(ModeDev, "", func(k string) string { return bad[k] }, nil)
	if err == nil || !strings.Contains(err.Error(), "store backend") || !strings.Contains(err.Error(), "http_addr") {
		t.Errorf("want both errors, got %v", err)
	}
	if _, err := Load(ModeDev, filepath.Join(t.TempDir(), "missing.hcl"), none, nil); err == nil {
		t.Error("missing config file accepted")
	}
}

func TestMaxTokenTTL(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	c, err := Load(ModeDev, "", none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxTokenTTL != "8760h" || c.MaxTokenTTLDuration() != 365*24*time.Hour {
		t.Errorf("default max_token_ttl = %q", c.MaxTokenTTL)
	}
	file := filepath.Join(t.TempDir(), "aegir.hcl")
	if err := os.WriteFile(file, []byte("max_token_ttl = \"720h\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(ModeDev, file, none, nil); err != nil || c.MaxTokenTTLDuration() != 720*time.Hour {
		t.Errorf("max_token_ttl from the file: %v, %v", c, err)
	}
	env := map[string]string{"AEGIR_MAX_TOKEN_TTL": "24h"}
	if c, err = Load(ModeDev, file, func(k string) string { return env[k] }, nil); err != nil || c.MaxTokenTTLDuration() != 24*time.Hour {
		t.Errorf("max_token_ttl from the environment: %v, %v", c, err)
	}
	for _, v := range []string{"forever", "-1h", "0", "30s"} {
		bad := map[string]string{"AEGIR_MAX_TOKEN_TTL": v}
		if _, err := Load(ModeDev, "", func(k string) string { return bad[k] }, nil); err == nil || !strings.Contains(err.Error(), "max_token_ttl") {
			t.Errorf("max_token_ttl %q: %v", v, err)
		}
	}
}

func TestAuditRetention(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	c, err := Load(ModeDev, "", none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.AuditRetentionDuration() != 90*24*time.Hour {
		t.Errorf("default audit_retention = %q", c.AuditRetention)
	}
	file := filepath.Join(t.TempDir(), "aegir.hcl")
	if err := os.WriteFile(file, []byte("audit_retention = \"720h\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(ModeDev, file, none, nil); err != nil || c.AuditRetentionDuration() != 720*time.Hour {
		t.Errorf("audit_retention from the file: %v, %v", c, err)
	}
	env := map[string]string{"AEGIR_AUDIT_RETENTION": "48h"}
	if c, err = Load(ModeDev, file, func(k string) string { return env[k] }, nil); err != nil || c.AuditRetentionDuration() != 48*time.Hour {
		t.Errorf("audit_retention from the environment: %v, %v", c, err)
	}
	for _, v := range []string{"forever", "-1h", "1h"} {
		bad := map[string]string{"AEGIR_AUDIT_RETENTION": v}
		if _, err := Load(ModeDev, "", func(k string) string { return bad[k] }, nil); err == nil || !strings.Contains(err.Error(), "audit_retention") {
			t.Errorf("audit_retention %q: %v", v, err)
		}
	}
}

func TestBackupArchiveFormat(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	c, err := Load(ModeDev, "", none, nil)
	if err != nil || c.BackupArchiveFormat != 2 {
		t.Fatalf("default backup_archive_format = %v, %v", c, err)
	}
	file := filepath.Join(t.TempDir(), "aegir.hcl")
	if err := os.WriteFile(file, []byte("backup_archive_format = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(ModeDev, file, none, nil); err != nil || c.BackupArchiveFormat != 1 {
		t.Errorf("backup_archive_format from the file: %v, %v", c, err)
	}
	env := map[string]string{"AEGIR_BACKUP_ARCHIVE_FORMAT": "2"}
	if c, err = Load(ModeDev, file, func(k string) string { return env[k] }, nil); err != nil || c.BackupArchiveFormat != 2 {
		t.Errorf("backup_archive_format from the environment: %v, %v", c, err)
	}
	for _, v := range []string{"3", "-1", "two"} {
		bad := map[string]string{"AEGIR_BACKUP_ARCHIVE_FORMAT": v}
		if _, err := Load(ModeDev, "", func(k string) string { return bad[k] }, nil); err == nil || !strings.Contains(err.Error(), "AEGIR_BACKUP_ARCHIVE_FORMAT") && !strings.Contains(err.Error(), "backup_archive_format") {
			t.Errorf("backup_archive_format %q: %v", v, err)
		}
	}
}

func TestQuotas(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	c, err := Load(ModeDev, "", none, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.Quotas.Limits()
	if err != nil || q[domain.QuotaTasks] != 20 || q[domain.QuotaBackups] != 20 || q[domain.QuotaSites] != 0 || q[domain.QuotaDisk] != 0 {
		t.Errorf("default quotas = %v, %v", q, err)
	}
	file := filepath.Join(t.TempDir(), "aegir.hcl")
	if err := os.WriteFile(file, []byte("quotas {\n  tasks = 5\n  sites = \"10\"\n  disk = \"10G\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(ModeDev, file, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q, err = c.Quotas.Limits(); err != nil || q[domain.QuotaTasks] != 5 || q[domain.QuotaSites] != 10 || q[domain.QuotaDisk] != 10<<30 || q[domain.QuotaBackups] != 20 {
		t.Errorf("quotas from the file = %v, %v", q, err)
	}
	env := map[string]string{"AEGIR_QUOTA_BACKUPS": "unlimited", "AEGIR_QUOTA_TASKS": "3"}
	c, err = Load(ModeDev, file, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q, err = c.Quotas.Limits(); err != nil || q[domain.QuotaTasks] != 3 || q[domain.QuotaBackups] != 0 {
		t.Errorf("quotas from the environment = %v, %v", q, err)
	}
	for _, v := range [][2]string{{"AEGIR_QUOTA_TASKS", "-1"}, {"AEGIR_QUOTA_SITES", "ten"}, {"AEGIR_QUOTA_DISK", "10X"}} {
		bad := map[string]string{v[0]: v[1]}
		if _, err := Load(ModeDev, "", func(k string) string { return bad[k] }, nil); err == nil || !strings.Contains(err.Error(), "quotas") {
			t.Errorf("%s=%s: %v", v[0], v[1], err)
		}
	}
}

func TestTLSDefaultsAndErrors(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	dev, err := Load(ModeDev, "", none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dev.TLS.Issuer != "local" || dev.TLS.SitesAddr != "127.0.0.1:8482" || dev.RenewWindowDuration() != 720*time.Hour || dev.TLS.ACMEDirectory != LetsEncryptDirectory {
		t.Errorf("dev TLS defaults: %+v", dev.TLS)
	}
	// Another sites address (parallel aegir dev processes, tests): no
	// HTTPS listener unless asked for.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse([]string{"-sites-addr", "127.0.0.1:9481"}); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(ModeDev, "", none, fs); err != nil || c.TLS.SitesAddr != "" {
		t.Errorf("dev with -sites-addr: %q %v", c.TLS.SitesAddr, err)
	}
	srv, err := Load(ModeServer, "", none, nil)
	if err != nil || srv.TLS.Issuer != "acme" || srv.TLS.SitesAddr != "" {
		t.Errorf("server TLS defaults: %+v %v", srv.TLS, err)
	}
	for env, want := range map[string]string{
		"AEGIR_TLS_ISSUER":       "tls issuer",
		"AEGIR_TLS_RENEW_WINDOW": "renew_window",
		"AEGIR_SITES_TLS_ADDR":   "tls sites_addr",
	} {
		_, err := Load(ModeDev, "", func(k string) string {
			if k == env {
				return "bogus"
			}
			return ""
		}, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=bogus: %v, want an error naming %s", env, err, want)
		}
	}
}

func TestRoutingRelease(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	c, err := Load(ModeServer, "", none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReleaseGraceDuration() != 10*time.Second || c.ReleaseWaitDuration() != 10*time.Minute {
		t.Errorf("defaults: release_grace %s release_wait %s, want 10s and 10m", c.ReleaseGraceDuration(), c.ReleaseWaitDuration())
	}
	file := filepath.Join(t.TempDir(), "aegir.hcl")
	if err := os.WriteFile(file, []byte("routing {\n  release_grace = \"5s\"\n  release_wait = \"30m\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(ModeServer, file, none, nil); err != nil || c.ReleaseGraceDuration() != 5*time.Second || c.ReleaseWaitDuration() != 30*time.Minute {
		t.Fatalf("from file: %v %s %s", err, c.ReleaseGraceDuration(), c.ReleaseWaitDuration())
	}
	env := map[string]string{"AEGIR_ROUTING_RELEASE_GRACE": "2s"}
	if c, err = Load(ModeServer, file, func(k string) string { return env[k] }, nil); err != nil || c.ReleaseGraceDuration() != 2*time.Second {
		t.Fatalf("from the environment: %v %s", err, c.ReleaseGraceDuration())
	}
	for _, grace := range []string{"0s", "-1s", "2h", "soon"} {
		bad := map[string]string{"AEGIR_ROUTING_RELEASE_GRACE": grace}
		if _, err := Load(ModeServer, "", func(k string) string { return bad[k] }, nil); err == nil || !strings.Contains(err.Error(), "release_grace") {
			t.Errorf("release_grace %q: %v", grace, err)
		}
	}
	if err := os.WriteFile(file, []byte("routing {\n  release_grace = \"5m\"\n  release_wait = \"2m\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ModeServer, file, none, nil); err == nil || !strings.Contains(err.Error(), "release_wait") {
		t.Errorf("release_wait shorter than release_grace: %v", err)
	}
}

func TestNomadVaultPolicies(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	file := filepath.Join(t.TempDir(), "aegir.hcl")
	if err := os.WriteFile(file, []byte("nomad {\n  vault_policies = [\"aegir-backend\", \"extra_one\"]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(ModeServer, file, none, nil)
	if err != nil || strings.Join(c.Nomad.VaultPolicies, ",") != "aegir-backend,extra_one" {
		t.Fatalf("vault_policies: %v %v", err, c.Nomad.VaultPolicies)
	}
	if err := os.WriteFile(file, []byte("nomad {\n  vault_policies = [\"root\\\" }\"]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ModeServer, file, none, nil); err == nil || !strings.Contains(err.Error(), "vault_policies") {
		t.Errorf("a policy name with HCL in it: %v", err)
	}
}
