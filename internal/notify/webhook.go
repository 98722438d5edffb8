package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// The headers of a webhook delivery.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with
	// the subscription's secret, of the timestamp header's value, a dot,
	// and the body: Sign(secret, timestamp, body).
	HeaderSignature = "X-Aegir-Signature"
	// HeaderTimestamp is when the attempt was sent, in Unix seconds;
	// receivers should refuse old ones (replays).
	HeaderTimestamp = "X-Aegir-Timestamp"
	// HeaderDelivery is the delivery's id, the same on every retry of it.
	HeaderDelivery = "X-Aegir-Delivery"
	// HeaderEvent is the event's kind, or "digest".
	HeaderEvent = "X-Aegir-Event"
)

// Sign returns the signature header's value for body sent at timestamp
// (Unix seconds, as in the timestamp header).
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is body's at timestamp under secret,
// comparing in constant time. Receivers written in Go may use it.
func Verify(secret, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

// errPrivateAddress refuses a webhook that resolves to an address
// webhooks may not reach.
var errPrivateAddress = errors.New("the webhook's host resolves to a loopback, private or link-local address, which webhooks may not reach (notifications webhook_private_addresses allows it)")

// cgnat is the shared address space of carrier-grade NAT (RFC 6598),
// private in all but name.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicOnly is a net.Dialer Control that refuses to connect to any
// address that is not a public unicast one. It runs on the address
// actually dialled, after DNS, so a name that resolves (or re-resolves)
// to 127.0.0.1 is refused too.
func publicOnly(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook address %q: %w", address, err)
	}
	ip := ap.Addr().Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || cgnat.Contains(ip) {
		return errPrivateAddress
	}
	return nil
}

// newHTTPClient is the webhooks' client: no proxy from the environment,
// no redirects followed (a 3xx is a failed attempt), each attempt bounded
// by timeout, and without allowPrivate only public addresses.
func newHTTPClient(timeout time.Duration, allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		d.Control = publicOnly
	}
	tr := &http.Transport{
		DialContext: d.DialContext, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute, ForceAttemptHTTP2: true,
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// attempt is how one try of a delivery went: the receiver's code (0 when
// it did not answer), the error, and whether trying again may help.
type attempt struct {
	code  int
	err   error
	retry bool
}

// postWebhook sends one attempt of a webhook delivery.
func postWebhook(ctx context.Context, client *http.Client, target, secret, deliveryID, event string, body []byte, now time.Time) attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return attempt{err: errors.New("the webhook URL cannot be used"), retry: false}
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aegir-notify/1")
	req.Header.Set(HeaderDelivery, deliveryID)
	req.Header.Set(HeaderEvent, event)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	res, err := client.Do(req)
	if err != nil {
		// The URL stays out of the message: some receivers keep a key in it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return attempt{err: err, retry: !errors.Is(err, errPrivateAddress)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	switch c := res.StatusCode; {
	case c >= 200 && c < 300:
		return attempt{code: c}
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return attempt{code: c, err: fmt.Errorf("the receiver answered %d %s", c, http.StatusText(c)), retry: true}
	default:
		return attempt{code: c, err: fmt.Errorf("the receiver answered %d %s; not retried (fix the receiver or the URL, then use aegir notify test)", c, http.StatusText(c))}
	}
}
