package web

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// clientAddr is the address a request came from, for login limits and the
// sessions list. The API server's Fiber app sets no ProxyHeader, so c.IP()
// is the TCP peer; but that is read here directly, not through c.IP(), so
// a change of the app's settings cannot make a forged header count.
//
// X-Forwarded-For is believed only when the peer is a trusted proxy
// (Config.TrustedProxies): then the header's addresses are read from the
// right, skipping trusted proxies, and the first other one is the client.
// Anything to its left was written by the client and could say anything.
// A malformed entry stops the walk at the last address known good (the
// proxy that sent it), so garbage cannot choose the address either.
func (u *ui) clientAddr(c *fiber.Ctx) string { return ClientAddr(c, u.trusted) }

// ClientAddr is a request's client address given the trusted proxies (see
// clientAddr), for other transports: the API's audit entries.
func ClientAddr(c *fiber.Ctx, trusted []netip.Prefix) string {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	var headers []string
	c.Request().Header.VisitAll(func(k, v []byte) {
		if strings.EqualFold(string(k), fiber.HeaderXForwardedFor) {
			headers = append(headers, string(v))
		}
	})
	return forwardedClient(peer.Unmap(), headers, trusted).String()
}

// forwardedClient returns the client's address given the TCP peer, the
// request's X-Forwarded-For header values in order, and the trusted
// proxies.
func forwardedClient(peer netip.Addr, xff []string, trusted []netip.Prefix) netip.Addr {
	if !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	for _, h := range xff {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return client
		}
		client = a.Unmap()
		if !isTrusted(client, trusted) {
			return client
		}
	}
	return client
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
