package servicekind

import "testing"

// TestPoolSettings: the per-site php-fpm pool settings of nginx services
// are bounded, and the php-fpm binary must be php-fpm (or php-fpmX.Y).
func TestPoolSettings(t *testing.T) {
	t.Parallel()
	d, _ := Lookup(Nginx)
	for _, c := range []struct {
		key, value string
		ok         bool
	}{
		{"php_max_children", "5", true},
		{"php_max_children", "0", false},
		{"php_max_children", "65", false},
		{"php_max_children", "-1", false},
		{"php_max_children", "5 ", false},
		{"php_memory_limit", "256", true},
		{"php_memory_limit", "256M", false},
		{"php_memory_limit", "8", false},
		{"php_upload_max", "2048", true},
		{"php_upload_max", "2049", false},
		{"php_fpm_binary", "php-fpm", true},
		{"php_fpm_binary", "php-fpm8.2", true},
		{"php_fpm_binary", "/usr/sbin/php-fpm8.2", true},
		{"php_fpm_binary", "/bin/sh", false},
		{"php_fpm_binary", "php-fpm.2", false},
		{"php_fpm_binary", "php-fpmx", false},
		{"php_pool_dir", "/etc/php/8.2/fpm/pool.d", true},
		{"php_pool_dir", "pool.d", false},
		{"php_run_dir", "/run/php/../x", false},
	} {
		err := d.CheckValue(c.key, c.value)
		if (err == nil) != c.ok {
			t.Errorf("%s=%q: err %v, want ok=%v", c.key, c.value, err, c.ok)
		}
	}
}
