package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDashboardSettings(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	c, err := Load(ModeServer, "", none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionIdleDuration() != 2*time.Hour || c.SessionMaxDuration() != 12*time.Hour || len(c.TrustedProxyPrefixes()) != 0 {
		t.Errorf("defaults: %+v", c.Dashboard)
	}

	file := filepath.Join(t.TempDir(), "aegir.hcl")
	if err := os.WriteFile(file, []byte(`
dashboard {
  session_idle    = "30m"
  session_max     = "8h"
  trusted_proxies = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(ModeServer, file, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if c.SessionIdleDuration() != 30*time.Minute || c.SessionMaxDuration() != 8*time.Hour || !slices.Equal(c.TrustedProxyPrefixes(), want) {
		t.Errorf("file: %+v", c.Dashboard)
	}

	env := map[string]string{"AEGIR_SESSION_IDLE": "1h", "AEGIR_TRUSTED_PROXIES": " 127.0.0.1 , ::1"}
	c, err = Load(ModeServer, file, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	if c.SessionIdleDuration() != time.Hour || c.SessionMaxDuration() != 8*time.Hour || !slices.Equal(c.TrustedProxyPrefixes(), want) {
		t.Errorf("env: %+v", c.Dashboard)
	}

	bad := map[string]string{"AEGIR_SESSION_IDLE": "3h", "AEGIR_SESSION_MAX": "1h", "AEGIR_TRUSTED_PROXIES": "10.0.0.0/33,proxy.example"}
	_, err = Load(ModeServer, "", func(k string) string { return bad[k] }, nil)
	for _, w := range []string{"session_max", `"10.0.0.0/33"`, `"proxy.example"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("want an error naming %s, got %v", w, err)
		}
	}
	bad = map[string]string{"AEGIR_SESSION_IDLE": "soon"}
	if _, err = Load(ModeServer, "", func(k string) string { return bad[k] }, nil); err == nil || !strings.Contains(err.Error(), "session_idle") {
		t.Errorf("bad idle: %v", err)
	}
}
