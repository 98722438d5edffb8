package dashboard

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/dashboard/web"
	"github.com/aegirhq/aegir/internal/testharness"
)

// Two dashboards behind a load balancer share one Redis: failures on
// either count against the account, so the sixth try fails on both.
func TestUILoginRateLimitAcrossServers(t *testing.T) {
	t.Parallel()
	srv := testharness.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	limiter := func() LoginLimiter {
		return web.NewRedisLimiter(web.RedisLimiterConfig{Client: rdb, Prefix: "t:" + t.Name() + ":"})
	}
	key := []byte(strings.Repeat("k", 32))
	b := uiSetup(t, func(c *Config) { c.SessionKey, c.LoginLimiter = key, limiter() })
	other := *b
	cfg := *b.cfg
	cfg.LoginLimiter = limiter()
	var err error
	if other.srv, err = New(&cfg); err != nil {
		t.Fatal(err)
	}
	other.listen()

	for i := range 5 {
		w := b.browser()
		if i%2 == 1 {
			w = other.browser()
		}
		if res := w.login("admin", "wrong password!"); res.Header.Get("Location") != "/login" {
			t.Fatalf("failure %d went to %q", i, res.Header.Get("Location"))
		}
	}
	for name, bb := range map[string]*bundle{"first": b, "second": &other} {
		w := bb.browser()
		res := w.login("admin", testPassword)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: status %d", name, res.StatusCode)
		}
		if _, body := w.follow(res); !strings.Contains(body, "Too many failed logins") {
			t.Errorf("%s server let the sixth try in", name)
		}
	}
}
