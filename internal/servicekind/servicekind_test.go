package servicekind_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/servicekind"
)

func TestRegistry(t *testing.T) {
	t.Parallel()
	all := servicekind.All()
	seen := map[servicekind.Kind]bool{}
	for _, d := range all {
		if seen[d.Kind] {
			t.Errorf("kind %s listed twice", d.Kind)
		}
		seen[d.Kind] = true
		if d.Type != servicekind.HTTP && d.Type != servicekind.DB {
			t.Errorf("%s: type %q", d.Kind, d.Type)
		}
		if d.Summary == "" {
			t.Errorf("%s: no summary", d.Kind)
		}
		if d.Type == servicekind.DB && d.DrupalDriver == "" {
			t.Errorf("%s: a database kind without Drupal's driver name", d.Kind)
		}
		if (d.Vault != nil) != d.Has(servicekind.DynamicCredentials) {
			t.Errorf("%s: Vault set = %v but dynamic-credentials = %v", d.Kind, d.Vault != nil, d.Has(servicekind.DynamicCredentials))
		}
		if d.Has(servicekind.AdminCredentials) != (d.DefaultPort != 0 && d.Type == servicekind.DB) {
			t.Errorf("%s: admin credentials without a server port, or the reverse", d.Kind)
		}
		if v := d.Vault; v != nil {
			if v.Plugin == "" || len(v.Creation) == 0 || len(v.Revocation) == 0 {
				t.Errorf("%s: incomplete Vault descriptor %+v", d.Kind, v)
			}
			if !strings.Contains(strings.Join(v.Creation, " "), "{{database}}") {
				t.Errorf("%s: the creation statements do not name the site's database", d.Kind)
			}
		}
		for _, s := range d.Settings {
			if s.Key == "" || s.Meaning == "" {
				t.Errorf("%s: setting %+v without key or meaning", d.Kind, s)
			}
		}
	}
	if !slices.IsSortedFunc(all, func(a, b servicekind.Descriptor) int { return strings.Compare(string(a.Kind), string(b.Kind)) }) {
		t.Error("All is not sorted")
	}
	all[0].Kind = "changed"
	if servicekind.All()[0].Kind == "changed" {
		t.Error("All returned the registry itself")
	}
	if _, ok := servicekind.Lookup("apache"); ok {
		t.Error("apache has no driver and must not be listed")
	}
	if got := strings.Join(servicekind.Names(servicekind.HTTP), ","); got != "builtin,nginx" {
		t.Errorf("Names(HTTP) = %s", got)
	}
	if got := strings.Join(servicekind.Names(servicekind.DB), ","); got != "mariadb,postgresql,sqlite" {
		t.Errorf("Names(DB) = %s", got)
	}
}

func TestCheckSettings(t *testing.T) {
	t.Parallel()
	ng, _ := servicekind.Lookup(servicekind.Nginx)
	for _, tc := range []struct {
		settings map[string]string
		wantErr  string
	}{
		{map[string]string{"config_dir": "/etc/nginx/aegir", "main_config": "/etc/nginx/nginx.conf", "workers": "4"}, ""},
		{map[string]string{"config_dir": "/etc/nginx/aegir"}, `"main_config"`},
		{map[string]string{"config_dir": "etc/nginx", "main_config": "/etc/nginx/nginx.conf"}, "absolute"},
		{map[string]string{"config_dir": "/a", "main_config": "/b", "php_fastcgi": "unix:/run/php/fpm.sock"}, ""},
		{map[string]string{"config_dir": "/a", "main_config": "/b", "php_fastcgi": "127.0.0.1:9000"}, ""},
		{map[string]string{"config_dir": "/a", "main_config": "/b", "php_fastcgi": "127.0.0.1;9000"}, "host:port"},
	} {
		err := ng.CheckSettings(tc.settings)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("CheckSettings(%v) = %v, want %q", tc.settings, err, tc.wantErr)
		}
	}
	pg, _ := servicekind.Lookup(servicekind.PostgreSQL)
	if err := pg.CheckSettings(map[string]string{"sslmode": "sometimes"}); err == nil {
		t.Error("sslmode sometimes accepted")
	}
	if err := servicekind.Program("mariadb-dump"); err != nil {
		t.Error(err)
	}
	if err := servicekind.Program("x;rm"); err == nil {
		t.Error("x;rm accepted as a program")
	}
	if err := servicekind.Host("db.example.com"); err != nil {
		t.Error(err)
	}
	if err := servicekind.Host("a b"); err == nil {
		t.Error("a b accepted as a host")
	}
}

func TestCheckValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind       servicekind.Kind
		key, value string
		wantErr    string
	}{
		{servicekind.Nginx, "binary", "nginx", ""},
		{servicekind.Nginx, "binary", "/usr/sbin/nginx", ""},
		{servicekind.Nginx, "binary", "/bin/sh", "must be nginx"},
		{servicekind.Nginx, "binary", "sh", "must be nginx"},
		{servicekind.Nginx, "binary", "/usr/sbin/../../bin/nginx", "clean"},
		{servicekind.Nginx, "config_dir", "etc/nginx", "absolute"},
		{servicekind.Nginx, "config_dir", "", ""}, // unset; required is verify-server's
		{servicekind.Nginx, "workers", "4", `no setting "workers"; use config_dir`},
		{servicekind.MariaDB, "dump_binary", "/usr/bin/mysqldump", ""},
		{servicekind.MariaDB, "client_binary", "/usr/bin/python3", "must be mariadb or mysql"},
		{servicekind.PostgreSQL, "sslmode", "sometimes", "not one of"},
		{servicekind.PostgreSQL, "user_hosts", "%", "no setting"},
		{servicekind.SQLite, "dir", "/var/lib/aegir/sqlite", ""},
	} {
		d, _ := servicekind.Lookup(tc.kind)
		err := d.CheckValue(tc.key, tc.value)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s CheckValue(%q, %q) = %v, want %q", tc.kind, tc.key, tc.value, err, tc.wantErr)
		}
	}
}
