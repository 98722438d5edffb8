package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/testharness"
)

// A password no message may contain.
const testRedisPassword = "s3cret-Pa55word-for-redis"

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRedisConfigFileAndEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwFile := writeFile(t, dir, "pw", testRedisPassword+"\n")
	file := writeFile(t, dir, "aegir.hcl", fmt.Sprintf(`
redis {
  address       = "redis.internal:6380"
  username      = "aegir"
  password_file = %q
  db            = 2
  tls {
    enabled     = true
    server_name = "redis.example"
  }
}
`, pwFile))
	c, err := Load(ModeServer, file, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := RedisConfig{Address: "redis.internal:6380", Username: "aegir", PasswordFile: pwFile, DB: 2,
		TLS: RedisTLSConfig{Enabled: true, ServerName: "redis.example"}}
	if c.Redis != want {
		t.Errorf("redis = %v, want %v", c.Redis, want)
	}
	opts, err := c.Redis.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Password != testRedisPassword || opts.Username != "aegir" || opts.DB != 2 || opts.TLSConfig == nil || opts.TLSConfig.ServerName != "redis.example" {
		t.Errorf("options = user %q db %d tls %v (password read: %v)", opts.Username, opts.DB, opts.TLSConfig, opts.Password == testRedisPassword)
	}

	// The environment wins, and a password given there replaces the
	// file's password_file rather than clashing with it.
	env := map[string]string{
		"AEGIR_REDIS_ADDR": "127.0.0.1:7000", "AEGIR_REDIS_PASSWORD": testRedisPassword, "AEGIR_REDIS_DB": "3",
		"AEGIR_REDIS_TLS": "false", "AEGIR_REDIS_TLS_SERVER_NAME": "",
	}
	file2 := writeFile(t, dir, "plain.hcl", fmt.Sprintf("redis {\n address = \"x:1\"\n password_file = %q\n}\n", pwFile))
	c, err = Load(ModeServer, file2, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Address != "127.0.0.1:7000" || c.Redis.Password != testRedisPassword || c.Redis.PasswordFile != "" || c.Redis.DB != 3 || c.Redis.TLS.Enabled {
		t.Errorf("env did not win: %v", c.Redis)
	}

	// No Redis: no error, nothing set.
	c, err = Load(ModeDev, "", func(string) string { return "" }, nil)
	if err != nil || c.Redis != (RedisConfig{}) {
		t.Errorf("dev default = %v, %v", c.Redis, err)
	}
}

func TestRedisConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwFile := writeFile(t, dir, "pw", testRedisPassword)
	empty := writeFile(t, dir, "empty", "\n")
	notPEM := writeFile(t, dir, "ca.pem", "not a certificate "+testRedisPassword)
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"both passwords", map[string]string{"AEGIR_REDIS_PASSWORD": testRedisPassword, "AEGIR_REDIS_PASSWORD_FILE": pwFile}, []string{"password and password_file are both set"}},
		{"unreadable password file", map[string]string{"AEGIR_REDIS_PASSWORD_FILE": filepath.Join(dir, "missing")}, []string{"redis password_file", "no such file"}},
		{"empty password file", map[string]string{"AEGIR_REDIS_PASSWORD_FILE": empty}, []string{"is empty"}},
		{"unreadable CA", map[string]string{"AEGIR_REDIS_TLS": "true", "AEGIR_REDIS_TLS_CA_FILE": filepath.Join(dir, "nope.pem")}, []string{"redis tls ca_file", "no such file"}},
		{"CA not PEM", map[string]string{"AEGIR_REDIS_TLS": "true", "AEGIR_REDIS_TLS_CA_FILE": notPEM}, []string{"holds no PEM certificate"}},
		{"TLS files without TLS", map[string]string{"AEGIR_REDIS_TLS_CA_FILE": notPEM}, []string{"tls is not enabled"}},
		{"cert without key", map[string]string{"AEGIR_REDIS_TLS": "true", "AEGIR_REDIS_TLS_CERT_FILE": notPEM}, []string{"cert_file and key_file go together"}},
		{"bad key pair", map[string]string{"AEGIR_REDIS_TLS": "true", "AEGIR_REDIS_TLS_CERT_FILE": notPEM, "AEGIR_REDIS_TLS_KEY_FILE": pwFile}, []string{"cert_file", "key_file"}},
		{"bad db", map[string]string{"AEGIR_REDIS_DB": "two"}, []string{"AEGIR_REDIS_DB"}},
		{"negative db", map[string]string{"AEGIR_REDIS_DB": "-1"}, []string{"redis db -1"}},
		{"bad tls flag", map[string]string{"AEGIR_REDIS_TLS": "yes please"}, []string{"AEGIR_REDIS_TLS"}},
		{"URL address", map[string]string{"AEGIR_REDIS_ADDR": "redis://:" + testRedisPassword + "@host:6379"}, []string{"is a URL"}},
		{"not host:port", map[string]string{"AEGIR_REDIS_ADDR": "redis.internal"}, []string{"not host:port"}},
		{"credentials without address", map[string]string{"AEGIR_REDIS_ADDR": "-", "AEGIR_REDIS_PASSWORD": testRedisPassword}, []string{"address is empty"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"AEGIR_REDIS_ADDR": "127.0.0.1:6379"}
			for k, v := range tc.env {
				env[k] = v
			}
			if env["AEGIR_REDIS_ADDR"] == "-" {
				delete(env, "AEGIR_REDIS_ADDR")
			}
			_, err := Load(ModeDev, "", func(k string) string { return env[k] }, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testRedisPassword) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestRedisConfigNeverPrintsThePassword prints and logs the whole Config
// every way a dump might.
func TestRedisConfigNeverPrintsThePassword(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AEGIR_REDIS_ADDR": "127.0.0.1:6379", "AEGIR_REDIS_PASSWORD": testRedisPassword}
	c, err := Load(ModeDev, "", func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	log.Info("config", "redis", c.Redis)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "redis", c.Redis)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c), c.Redis.String(), logged.String(), string(js)} {
		if strings.Contains(s, testRedisPassword) {
			t.Errorf("password printed: %s", s)
		}
	}
	if !strings.Contains(c.Redis.String(), "password=(redacted)") || !strings.Contains(logged.String(), `"password":true`) {
		t.Errorf("dumps do not say a password is set: %s / %s", c.Redis, logged.String())
	}
}

func redisClient(t *testing.T, rc RedisConfig) *redis.Client {
	t.Helper()
	opts, err := rc.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func checkRedis(t *testing.T, rc RedisConfig) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return rc.CheckRedis(ctx, redisClient(t, rc))
}

// TestRedisPassword runs against redis-server with requirepass, and with
// an ACL user.
func TestRedisPassword(t *testing.T) {
	t.Parallel()
	srv := testharness.RedisWith(t, testharness.RedisOptions{Password: testRedisPassword})
	pwFile := writeFile(t, t.TempDir(), "pw", testRedisPassword+"\n")

	err := checkRedis(t, RedisConfig{Address: srv.Addr})
	if !errors.Is(err, ErrRedisRefused) || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("without the password: %v", err)
	}
	err = checkRedis(t, RedisConfig{Address: srv.Addr, Password: "wrong"})
	if !errors.Is(err, ErrRedisRefused) || strings.Contains(err.Error(), "wrong") {
		t.Errorf("with a wrong password: %v", err)
	}
	if err := checkRedis(t, RedisConfig{Address: srv.Addr, PasswordFile: pwFile}); err != nil {
		t.Errorf("with the password file: %v", err)
	}
	rdb := redisClient(t, RedisConfig{Address: srv.Addr, Password: testRedisPassword, DB: 3})
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := redisClient(t, RedisConfig{Address: srv.Addr, Password: testRedisPassword}).Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("db 3's key seen in db 0: %d, %v", n, err)
	}

	acl := testharness.RedisWith(t, testharness.RedisOptions{Username: "aegir", Password: testRedisPassword})
	if err := checkRedis(t, RedisConfig{Address: acl.Addr, Password: testRedisPassword}); !errors.Is(err, ErrRedisRefused) {
		t.Errorf("the default user got in: %v", err)
	}
	if err := checkRedis(t, RedisConfig{Address: acl.Addr, Username: "aegir", Password: testRedisPassword}); err != nil {
		t.Errorf("as the ACL user: %v", err)
	}

	// Not refused, only unreachable: the error says so without
	// ErrRedisRefused (the caller may wait for it).
	srv.Stop(t)
	if err := checkRedis(t, RedisConfig{Address: srv.Addr, Password: testRedisPassword}); err == nil || errors.Is(err, ErrRedisRefused) {
		t.Errorf("stopped redis: %v", err)
	}
}

// TestRedisTLS runs against redis-server on its tls-port (Debian's is
// built with TLS) with a throwaway CA.
func TestRedisTLS(t *testing.T) {
	t.Parallel()
	srv := testharness.RedisWith(t, testharness.RedisOptions{Password: testRedisPassword, TLS: true, TLSRequireClientCert: true})
	full := RedisConfig{Address: srv.Addr, Password: testRedisPassword, TLS: RedisTLSConfig{
		Enabled: true, CAFile: srv.TLS.CAFile, CertFile: srv.TLS.CertFile, KeyFile: srv.TLS.KeyFile,
	}}
	if err := full.validate(); err != nil {
		t.Fatal(err)
	}
	if err := checkRedis(t, full); err != nil {
		t.Fatalf("TLS with CA and client certificate: %v", err)
	}

	noCA := full
	noCA.TLS.CAFile = ""
	if err := checkRedis(t, noCA); !errors.Is(err, ErrRedisRefused) || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("untrusted CA: %v", err)
	}
	wrongName := full
	wrongName.TLS.ServerName = "redis.example"
	if err := checkRedis(t, wrongName); !errors.Is(err, ErrRedisRefused) || !strings.Contains(err.Error(), "server_name") {
		t.Errorf("wrong server name: %v", err)
	}
	noCert := full
	noCert.TLS.CertFile, noCert.TLS.KeyFile = "", ""
	if err := checkRedis(t, noCert); err == nil {
		t.Error("a client without certificate got in")
	}
	plain := RedisConfig{Address: srv.Addr, Password: testRedisPassword}
	if err := checkRedis(t, plain); err == nil || !strings.Contains(err.Error(), "enable redis tls") {
		t.Errorf("plaintext to the TLS port: %v", err)
	}

	// TLS to a plaintext Redis: it waits for a line that never comes.
	clear := testharness.Redis(t)
	tlsToPlain := full
	tlsToPlain.Address = clear.Addr
	if err := checkRedis(t, tlsToPlain); err == nil || !strings.Contains(err.Error(), "disable redis tls") {
		t.Errorf("TLS to plaintext: %v", err)
	}
}
