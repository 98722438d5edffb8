package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestNotificationsConfig(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	c, err := Load(ModeDev, "", none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Notifications; n.DigestThreshold != 10 || c.DigestWindowDuration() != time.Minute || n.WebhookPrivateAddresses || n.SMTP != nil {
		t.Errorf("defaults: %+v", n)
	}
	dir := t.TempDir()
	pw := writeFile(t, dir, "smtp-pw", "mail-pass\n")
	file := writeFile(t, dir, "aegir.hcl", fmt.Sprintf(`
notifications {
  digest_threshold = 3
  digest_window = "30s"
  webhook_private_addresses = true
  smtp {
    address = "smtp.example.com:587"
    from = "aegir@example.com"
    username = "aegir"
    password_file = %q
  }
}
`, pw))
	c, err = Load(ModeServer, file, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notifications
	if n.DigestThreshold != 3 || c.DigestWindowDuration() != 30*time.Second || !n.WebhookPrivateAddresses || n.SMTP == nil {
		t.Fatalf("from the file: %+v", n)
	}
	if p, err := n.SMTP.Password(); err != nil || p != "mail-pass" {
		t.Errorf("password %q, %v", p, err)
	}
	if tc, err := n.SMTP.TLSConfig(); err != nil || tc.ServerName != "smtp.example.com" || tc.RootCAs != nil {
		t.Errorf("tls: %+v, %v", tc, err)
	}

	smtp := func(lines ...string) string { return "smtp {\n" + strings.Join(lines, "\n") + "\n}" }
	addr, from := `address = "smtp.example.com:587"`, `from = "a@example.com"`
	for name, c := range map[string]struct{ block, want string }{
		"threshold": {`digest_threshold = -1`, "digest_threshold"},
		"window":    {`digest_window = "soon"`, "digest_window"},
		"address":   {smtp(`address = "smtp.example.com"`, from), "is not host:port"},
		"from":      {smtp(addr, `from = "Aegir <a@example.com>"`), "not a plain email address"},
		"ca_file":   {smtp(addr, from, `ca_file = "/nonexistent/ca.pem"`), "ca_file"},
		"password":  {smtp(addr, from, `username = "u"`, `password_file = "/nonexistent/pw"`), "password_file"},
		"no user":   {smtp(addr, from, fmt.Sprintf("password_file = %q", pw)), "without username"},
	} {
		f := writeFile(t, t.TempDir(), "aegir.hcl", "notifications {\n"+c.block+"\n}\n")
		if _, err := Load(ModeDev, f, none, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}
