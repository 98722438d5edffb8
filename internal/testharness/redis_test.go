package testharness

import "testing"

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
