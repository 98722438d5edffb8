package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/store"
)

// serversKey is the Redis hash in which every aegir server of one store
// (its Consul KV prefix) announces itself: field the server's id, value
// its announcement.
const serversKey = "aegir:servers:"

// announcement is what an aegir server says of itself to the others, so
// that during a rolling upgrade a newer one can tell that an older one
// is live (and leave it the lead, see olderPeer).
type announcement struct {
	ID      string `json:"id"`
	Release string `json:"release"`
	Schema  int    `json:"schema"`
	Host    string `json:"host,omitempty"`
	API     string `json:"api,omitempty"`
	Leading bool   `json:"leading"`
	// Until is when the announcement lapses unless renewed (Unix ms): a
	// server that died without a word is forgotten after it.
	Until int64 `json:"until"`
}

// peers announces this server in Redis and reads the others'.
type peers struct {
	rdb    *redis.Client
	key    string
	self   announcement
	every  time.Duration
	leader func() bool
	log    *slog.Logger
}

func newPeers(rdb *redis.Client, storePrefix, api string, every time.Duration, leader func() bool, log *slog.Logger) *peers {
	var b [6]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return &peers{rdb: rdb, key: serversKey + "{" + storePrefix + "}", every: every, leader: leader, log: log,
		self: announcement{ID: host + "-" + hex.EncodeToString(b[:]), Release: Version, Schema: store.SchemaVersion, Host: host, API: api}}
}

// run announces this server every p.every until ctx ends, then withdraws
// the announcement.
func (p *peers) run(ctx context.Context) {
	for {
		if err := p.announce(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("announce this server in redis", "err", err)
		}
		select {
		case <-ctx.Done():
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = p.rdb.HDel(c, p.key, p.self.ID).Err()
			cancel()
			return
		case <-time.After(p.every):
		}
	}
}

func (p *peers) announce(ctx context.Context) error {
	a := p.self
	a.Leading = p.leader()
	a.Until = time.Now().Add(3 * p.every).UnixMilli()
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return p.rdb.HSet(ctx, p.key, a.ID, b).Err()
}

// live returns the servers whose announcements have not lapsed, this one
// among them, sorted by id; it removes lapsed ones.
func (p *peers) live(ctx context.Context) ([]announcement, error) {
	all, err := p.rdb.HGetAll(ctx, p.key).Result()
	if err != nil {
		return nil, fmt.Errorf("read the servers' announcements: %w", err)
	}
	now := time.Now().UnixMilli()
	var out []announcement
	for id, v := range all {
		var a announcement
		if json.Unmarshal([]byte(v), &a) != nil || a.Until < now {
			_ = p.rdb.HDel(ctx, p.key, id).Err()
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b announcement) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// hold is the elector's Hold: this server does not campaign while an
// older server is live, and steps down if one becomes live while it
// leads (the elector asks again at its ticks), so that the records and
// tasks of a mixed cluster are written by the older release, which every
// server reads.
func (p *peers) hold(ctx context.Context) error {
	live, err := p.live(ctx)
	if err != nil {
		return nil // Redis trouble is the campaign's to report
	}
	for _, a := range live {
		if a.ID != p.self.ID && olderPeer(a, p.self) {
			return fmt.Errorf("aegir server %s (release %s, schema %d) is live and older than this one (release %s, schema %d): it leads until every server runs the newer release",
				a.ID, a.Release, a.Schema, p.self.Release, p.self.Schema)
		}
	}
	return nil
}

// olderPeer reports whether a is older than self: of a lower schema, or of
// the same schema and a lower release number. A release that is not a
// number (a "dev" build) is not compared.
func olderPeer(a, self announcement) bool {
	if a.Schema != self.Schema {
		return a.Schema < self.Schema
	}
	x, okA := parseRelease(a.Release)
	y, okS := parseRelease(self.Release)
	if !okA || !okS {
		return false
	}
	return compareRelease(x, y) < 0
}

// release is a parsed release number: major, minor, patch, and a
// pre-release label, which sorts before the release itself.
type release struct {
	num [3]int
	pre string
}

// parseRelease reads "1.2.3", "v1.2.3", "1.2.3-rc1" or "1.2.3+meta".
func parseRelease(s string) (release, bool) {
	var r release
	s = strings.TrimPrefix(s, "v")
	s, _, _ = strings.Cut(s, "+")
	s, r.pre, _ = strings.Cut(s, "-")
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return r, false
	}
	for i, f := range parts {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || f == "" {
			return r, false
		}
		r.num[i] = n
	}
	return r, true
}

func compareRelease(a, b release) int {
	for i := range a.num {
		if c := a.num[i] - b.num[i]; c != 0 {
			return c
		}
	}
	switch {
	case a.pre == b.pre:
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	return strings.Compare(a.pre, b.pre)
}
