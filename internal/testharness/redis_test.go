package testharness

import (
	"strings"
	"testing"
)

func TestRedis(t *testing.T) {
	t.Parallel()
	r := Redis(t)
	if err := redisPing(r.Addr); err != nil {
		t.Fatalf("PING: %v", err)
	}
	r.Restart(t)
	if err := redisPing(r.Addr); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
	r.Stop(t)
	if err := redisPing(r.Addr); err == nil {
		t.Fatalf("PING answered after Stop")
	}
}

func TestRedisWithPasswordAndTLS(t *testing.T) {
	t.Parallel()
	r := RedisWith(t, RedisOptions{Username: "aegir", Password: `pa ss"word\`, TLS: true, TLSRequireClientCert: true})
	if r.TLS == nil {
		t.Fatal("no TLS files")
	}
	if err := r.ping(); err != nil {
		t.Fatalf("PING with AUTH over TLS: %v", err)
	}
	if err := redisPing(r.Addr); err == nil {
		t.Error("a plaintext PING answered on the TLS port")
	}
	r.Restart(t)
	if err := r.ping(); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
	plain := RedisWith(t, RedisOptions{Password: "secret"})
	if err := redisPing(plain.Addr); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("PING without AUTH: %v", err)
	}
}
