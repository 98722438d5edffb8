package config

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/domain"
)

// RedisConfig reaches Redis for live logs, locks, leadership and the
// dashboard's login limits. Empty Address: the in-process log bus, locks
// and login limiter (one process only). The password never appears in
// String, GoString, LogValue or JSON, nor in any error this package
// returns.
type RedisConfig struct {
	// Address, "host:port". Default: none. Env AEGIR_REDIS_ADDR.
	Address string
	// Username is the ACL user (Redis 6 and later). Default: none, Redis's
	// "default" user. Env AEGIR_REDIS_USERNAME.
	Username string
	// Password is the user's password (requirepass for the default user).
	// Prefer PasswordFile: a password here sits in the config file or the
	// environment. Default: none. Env AEGIR_REDIS_PASSWORD.
	Password string `json:"-"`
	// PasswordFile holds the password, read at start (one trailing newline
	// is ignored). Not together with Password. Default: none. Env
	// AEGIR_REDIS_PASSWORD_FILE.
	PasswordFile string
	// DB is the database number. Default 0. Env AEGIR_REDIS_DB.
	DB int
	// TLS encrypts the connection. Default: plaintext.
	TLS RedisTLSConfig
}

// RedisTLSConfig is Redis's TLS (redis-server --tls-port).
type RedisTLSConfig struct {
	// Enabled turns TLS on; the other fields need it. Default false. Env
	// AEGIR_REDIS_TLS (true or false).
	Enabled bool `hcl:"enabled,optional"`
	// CAFile is a PEM file of the CA that signed Redis's certificate.
	// Default: the system's roots. Env AEGIR_REDIS_TLS_CA_FILE.
	CAFile string `hcl:"ca_file,optional"`
	// CertFile and KeyFile are aegir's client certificate and key, PEM,
	// for a Redis that asks for one (tls-auth-clients). Both or neither.
	// Default: none. Env AEGIR_REDIS_TLS_CERT_FILE, AEGIR_REDIS_TLS_KEY_FILE.
	CertFile string `hcl:"cert_file,optional"`
	KeyFile  string `hcl:"key_file,optional"`
	// ServerName is the name Redis's certificate must carry. Default: the
	// host of Address. Env AEGIR_REDIS_TLS_SERVER_NAME.
	ServerName string `hcl:"server_name,optional"`
}

// redisFile is the HCL shape of RedisConfig: the tls block is optional.
type redisFile struct {
	Address      string          `hcl:"address,optional"`
	Username     string          `hcl:"username,optional"`
	Password     string          `hcl:"password,optional"`
	PasswordFile string          `hcl:"password_file,optional"`
	DB           int             `hcl:"db,optional"`
	TLS          *RedisTLSConfig `hcl:"tls,block"`
}

func (f *redisFile) into(r *RedisConfig) {
	*r = RedisConfig{Address: f.Address, Username: f.Username, Password: f.Password, PasswordFile: f.PasswordFile, DB: f.DB}
	if f.TLS != nil {
		r.TLS = *f.TLS
	}
}

// applyEnv overrides r with the AEGIR_REDIS_* variables that are set. A
// password from the environment, inline or as a file, replaces the one
// from the config file, whichever way that one was given.
func (r *RedisConfig) applyEnv(env func(string) string) error {
	set := func(dst *string, key string) {
		if v := env(key); v != "" {
			*dst = v
		}
	}
	set(&r.Address, "AEGIR_REDIS_ADDR")
	set(&r.Username, "AEGIR_REDIS_USERNAME")
	if env("AEGIR_REDIS_PASSWORD") != "" || env("AEGIR_REDIS_PASSWORD_FILE") != "" {
		r.Password, r.PasswordFile = env("AEGIR_REDIS_PASSWORD"), env("AEGIR_REDIS_PASSWORD_FILE")
	}
	set(&r.TLS.CAFile, "AEGIR_REDIS_TLS_CA_FILE")
	set(&r.TLS.CertFile, "AEGIR_REDIS_TLS_CERT_FILE")
	set(&r.TLS.KeyFile, "AEGIR_REDIS_TLS_KEY_FILE")
	set(&r.TLS.ServerName, "AEGIR_REDIS_TLS_SERVER_NAME")
	var errs []error
	if v := env("AEGIR_REDIS_DB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("AEGIR_REDIS_DB %q is not a database number like 0", domain.Clip(v)))
		}
		r.DB = n
	}
	if v := env("AEGIR_REDIS_TLS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("AEGIR_REDIS_TLS %q: use true or false", domain.Clip(v)))
		}
		r.TLS.Enabled = b
	}
	return errors.Join(errs...)
}

// RedisFromEnv reads the Redis settings from the AEGIR_REDIS_* environment
// variables alone and checks them, as a back end run by Nomad does (the
// aegir-task job sets them; its password file is rendered from a Nomad
// Variable). The address may be empty: the task's context can name it.
func RedisFromEnv(env func(string) string) (RedisConfig, error) {
	var r RedisConfig
	err := r.applyEnv(env)
	return r, errors.Join(err, r.validate())
}

// validate checks r's fields and reads its files, so a bad setting fails at
// start with the field's name and what to do.
func (r *RedisConfig) validate() error {
	var errs []error
	if strings.Contains(r.Address, "://") || strings.Contains(r.Address, "@") {
		// Not echoed: a URL may carry the password.
		errs = append(errs, errors.New("redis address is a URL; give host:port, like 127.0.0.1:6379, and the credentials as username and password_file"))
	} else if r.Address != "" {
		if _, _, err := net.SplitHostPort(r.Address); err != nil {
			errs = append(errs, fmt.Errorf("redis address %q is not host:port, like 127.0.0.1:6379", domain.Clip(r.Address)))
		}
	}
	if r.DB < 0 {
		errs = append(errs, fmt.Errorf("redis db %d: use a database number of 0 or more", r.DB))
	}
	if r.Password != "" && r.PasswordFile != "" {
		errs = append(errs, errors.New("redis password and password_file are both set: keep one (password_file keeps the password out of the config file and the environment)"))
	} else if _, err := r.ReadPassword(); err != nil {
		errs = append(errs, err)
	}
	t := r.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "") {
		errs = append(errs, errors.New("redis tls: ca_file, cert_file, key_file or server_name is set but tls is not enabled; set enabled = true (AEGIR_REDIS_TLS=true), or remove them"))
	} else if _, err := r.tlsConfig(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ReadPassword returns the password: Password, or the contents of
// PasswordFile without one trailing newline. Errors name the file, never
// its contents.
func (r RedisConfig) ReadPassword() (string, error) {
	if r.PasswordFile == "" {
		return r.Password, nil
	}
	b, err := os.ReadFile(r.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("redis password_file: %w (give a file aegir can read that holds the password)", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", fmt.Errorf("redis password_file %s is empty: write the password into it, or remove password_file for a Redis without one", r.PasswordFile)
	}
	return pw, nil
}

// tlsConfig builds the TLS client configuration, reading the CA and the
// client certificate; nil when TLS is off.
func (r RedisConfig) tlsConfig() (*tls.Config, error) {
	t := r.TLS
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if c.ServerName == "" {
		if host, _, err := net.SplitHostPort(r.Address); err == nil {
			c.ServerName = host
		}
	}
	var errs []error
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("redis tls ca_file: %w (give a readable PEM file of the CA that signed Redis's certificate)", err))
		} else {
			c.RootCAs = x509.NewCertPool()
			if !c.RootCAs.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("redis tls ca_file %s holds no PEM certificate: give the CA certificate (-----BEGIN CERTIFICATE-----)", t.CAFile))
			}
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("redis tls cert_file %s and key_file %s: %w (give aegir's PEM client certificate and its private key)", t.CertFile, t.KeyFile, err))
		} else {
			c.Certificates = []tls.Certificate{cert}
		}
	case t.CertFile != "" || t.KeyFile != "":
		errs = append(errs, errors.New("redis tls: cert_file and key_file go together; set both for a client certificate, or neither"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// ClientOptions returns go-redis options for r: address, user, password
// (read from PasswordFile), database and TLS. Callers add pool sizes and
// timeouts.
func (r RedisConfig) ClientOptions() (*redis.Options, error) {
	pw, err := r.ReadPassword()
	if err != nil {
		return nil, err
	}
	tc, err := r.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &redis.Options{Addr: r.Address, Username: r.Username, Password: pw, DB: r.DB, TLSConfig: tc}, nil
}

// ErrRedisRefused marks a Redis that answers but refuses aegir: wrong or
// missing credentials, a user without permission, or a TLS mismatch.
// Retrying does not help; the configuration must change.
var ErrRedisRefused = errors.New("redis refused the connection")

// CheckRedis pings Redis through rdb. An error wraps ErrRedisRefused when
// Redis refused aegir's credentials or TLS, and says which settings to
// change; otherwise Redis was not reachable (it may come back).
func (r RedisConfig) CheckRedis(ctx context.Context, rdb redis.UniversalClient) error {
	err := rdb.Ping(ctx).Err()
	if err == nil {
		return nil
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		alert     tls.AlertError
	)
	switch {
	case redis.IsAuthError(err):
		return fmt.Errorf("%w: redis at %s did not accept aegir's user name and password (%v): set redis password or password_file (AEGIR_REDIS_PASSWORD_FILE), and username for an ACL user", ErrRedisRefused, r.Address, err)
	case redis.IsPermissionError(err):
		return fmt.Errorf("%w: redis at %s: %v: give the ACL user %q the commands aegir uses (+@all ~aegir:*, or ~* for every key)", ErrRedisRefused, r.Address, err, r.Username)
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return fmt.Errorf("%w: redis at %s: its TLS certificate is not trusted (%v): set redis tls ca_file to the CA that signed it, and server_name to a name it carries", ErrRedisRefused, r.Address, err)
	case errors.As(err, &record):
		return fmt.Errorf("%w: redis at %s does not speak TLS (%v): point address at its tls-port, or disable redis tls", ErrRedisRefused, r.Address, err)
	case errors.As(err, &alert):
		return fmt.Errorf("%w: redis at %s refused the TLS handshake (%v): it may want a client certificate (redis tls cert_file and key_file)", ErrRedisRefused, r.Address, err)
	}
	hint := "is redis-server running there? If it only listens with TLS (tls-port), enable redis tls"
	if r.TLS.Enabled {
		hint = "is redis-server running there? If it listens without TLS, a TLS handshake waits for ever: point address at its tls-port, or disable redis tls"
	}
	return fmt.Errorf("redis at %s: %w (%s)", r.Address, err, hint)
}

// String describes r without its password.
func (r RedisConfig) String() string {
	pw := ""
	switch {
	case r.Password != "":
		pw = " password=(redacted)"
	case r.PasswordFile != "":
		pw = " password_file=" + r.PasswordFile
	}
	tlsOn := ""
	if r.TLS.Enabled {
		tlsOn = fmt.Sprintf(" tls={ca_file=%s cert_file=%s key_file=%s server_name=%s}", r.TLS.CAFile, r.TLS.CertFile, r.TLS.KeyFile, r.TLS.ServerName)
	}
	return fmt.Sprintf("{address=%s username=%s%s db=%d%s}", r.Address, r.Username, pw, r.DB, tlsOn)
}

// GoString is String, so %#v cannot print the password either.
func (r RedisConfig) GoString() string { return "config.RedisConfig" + r.String() }

// LogValue logs r without its password.
func (r RedisConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("address", r.Address), slog.String("username", r.Username),
		slog.Bool("password", r.Password != "" || r.PasswordFile != ""), slog.Int("db", r.DB), slog.Bool("tls", r.TLS.Enabled))
}

var _ slog.LogValuer = RedisConfig{}
