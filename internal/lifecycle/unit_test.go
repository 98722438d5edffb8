package lifecycle

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// unit is a systemd unit file: section → key → values in order.
type unit map[string]map[string][]string

// parseUnit reads the subset of systemd's unit syntax the package's unit
// uses: [Section] headers, Key=Value lines, # and ; comments. It fails on
// anything else, so a typo is not silently ignored as systemd would.
func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.TrimSpace(k) != k || k == "" {
				t.Fatalf("%s:%d: not a Key=Value line in a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// The unit's shape, checked without systemd: what the package promises
// (its own user, hardening, the data dir writable and nothing else, the
// packaged config) whether or not systemd-analyze is on the machine.
func TestUnitFile(t *testing.T) {
	t.Parallel()
	u := parseUnit(t, "../../ops/package/aegir.service")
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Fatalf("no [%s] section", s)
		}
	}
	want := map[string]string{
		"ExecStart":                "/usr/bin/aegir server run -config /etc/aegir/aegir.hcl",
		"User":                     "aegir",
		"Group":                    "aegir",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"ReadWritePaths":           "/var/lib/aegir",
		"ProtectHome":              "yes",
		"PrivateTmp":               "yes",
		"CapabilityBoundingSet":    "",
		"RestartPreventExitStatus": "2",
	}
	for k, v := range want {
		got, ok := u["Service"][k]
		if !ok || !slices.Equal(got, []string{v}) {
			t.Errorf("[Service] %s = %q, want %q", k, got, v)
		}
	}
	if got := u["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("WantedBy = %q", got)
	}
}
