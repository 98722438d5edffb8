package testharness

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a tiny authoritative DNS server for tests, over TCP (what
// Pebble's resolver uses) and UDP on the same port: A records for the
// names it was given, no AAAA, NXDOMAIN for the rest.
type dnsServer struct {
	addr  string
	conn  net.PacketConn
	ln    net.Listener
	hosts map[string]netip.Addr
}

func startDNS(hosts map[string]string) (*dnsServer, error) {
	var ln net.Listener
	var conn net.PacketConn
	var err error
	for range 5 { // the UDP port of a free TCP port may be taken
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		if conn, err = net.ListenPacket("udp", ln.Addr().String()); err == nil {
			break
		}
		ln.Close()
	}
	if err != nil {
		return nil, err
	}
	d := &dnsServer{addr: ln.Addr().String(), conn: conn, ln: ln, hosts: map[string]netip.Addr{}}
	for name, ip := range hosts {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			conn.Close()
			ln.Close()
			return nil, &net.AddrError{Err: "not an IPv4 address", Addr: ip}
		}
		d.hosts[strings.ToLower(strings.TrimSuffix(name, "."))] = a
	}
	go d.serve()
	go d.serveTCP()
	return d, nil
}

func (d *dnsServer) close() {
	d.conn.Close()
	d.ln.Close()
}

// serveTCP answers length-prefixed queries (RFC 1035 4.2.2), one
// connection at a time is enough for a test.
func (d *dnsServer) serveTCP() {
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			for {
				var n [2]byte
				if _, err := io.ReadFull(c, n[:]); err != nil {
					return
				}
				req := make([]byte, int(n[0])<<8|int(n[1]))
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				out, ok := d.answer(req)
				if !ok {
					return
				}
				if _, err := c.Write(append([]byte{byte(len(out) >> 8), byte(len(out))}, out...)); err != nil {
					return
				}
			}
		}()
	}
}

func (d *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out, ok := d.answer(buf[:n]); ok {
			d.conn.WriteTo(out, from)
		}
	}
}

func (d *dnsServer) answer(req []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	ip, known := d.hosts[name]
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	if known && q.Type == dnsmessage.TypeA {
		if b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: ip.As4()}) != nil {
			return nil, false
		}
	}
	out, err := b.Finish()
	return out, err == nil
}
