package web

import (
	"net/netip"
	"testing"
)

func TestForwardedClient(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	cases := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy, no header", "198.51.100.7", nil, "198.51.100.7"},
		{"a forged header from an untrusted peer is ignored", "198.51.100.7", []string{"203.0.113.1"}, "198.51.100.7"},
		{"a trusted proxy gives the client", "10.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"the right-most untrusted address wins over a forged left part", "10.0.0.1", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7"},
		{"trusted hops are skipped", "10.0.0.1", []string{"198.51.100.7, 10.0.0.2", "10.0.0.3"}, "198.51.100.7"},
		{"several header lines are one list", "10.0.0.1", []string{"1.2.3.4", "198.51.100.7"}, "198.51.100.7"},
		{"garbage stops at the last good address", "10.0.0.1", []string{"198.51.100.7, not-an-ip"}, "10.0.0.1"},
		{"all trusted: the left-most", "10.0.0.1", []string{"10.0.0.9"}, "10.0.0.9"},
		{"a trusted proxy without a header", "10.0.0.1", nil, "10.0.0.1"},
		{"ipv6", "2001:db8::1", []string{"2001:db9::5"}, "2001:db9::5"},
		{"ipv4-mapped", "::ffff:10.0.0.1", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
	}
	for _, c := range cases {
		got := forwardedClient(netip.MustParseAddr(c.peer).Unmap(), c.xff, trusted)
		if got.String() != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	if got := forwardedClient(netip.MustParseAddr("10.0.0.1"), []string{"198.51.100.7"}, nil); got.String() != "10.0.0.1" {
		t.Errorf("no trusted proxies: got %s", got)
	}
}

func TestLoginDelay(t *testing.T) {
	t.Parallel()
	var got []int64
	for n := range 10 {
		got = append(got, int64(loginDelay(1, n, 0)))
	}
	want := []int64{0, 0, 0, 1, 2, 4, 8, 16, 16, 16}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("account delays %v, want %v", got, want)
		}
	}
	if loginDelay(1, 0, 19) != 0 || loginDelay(1, 0, 20) != 1 || loginDelay(1, 0, 1000) != 16 {
		t.Error("address delays")
	}
}
