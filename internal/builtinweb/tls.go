package builtinweb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/atomicfile"
	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/provision"
)

// certExt ends every certificate file name: <domain>.pem holds the chain
// and the key, mode 0600.
const certExt = ".pem"

// CertsDir is where the certificates of a data dir's builtin sites live:
// <DataDir>/builtin/certs.
func CertsDir(dataDir string) string { return filepath.Join(dataDir, "builtin", "certs") }

// certsDirFor is the certs dir next to a routes dir.
func certsDirFor(routesDir string) string { return filepath.Join(filepath.Dir(routesDir), "certs") }

// hstsValue is the Strict-Transport-Security header of sites with HSTS:
// one year, as browsers' preload lists expect; no includeSubDomains, which
// would bind names aegir does not serve.
const hstsValue = "max-age=31536000"

// writeCert checks a site's bundle and writes it, chain then key, to
// <certsDir>/<domain>.pem mode 0600.
func writeCert(certsDir, domain string, t *provision.WebTLS) error {
	b := certs.Bundle{CertPEM: t.CertPEM, KeyPEM: t.KeyPEM}
	if _, err := certs.Inspect(b); err != nil {
		return fmt.Errorf("certificate of %s: %w", domain, err)
	}
	if err := os.MkdirAll(certsDir, 0o700); err != nil {
		return fmt.Errorf("create builtin certs dir: %w", err)
	}
	data := append(append(append([]byte{}, t.CertPEM...), '\n'), t.KeyPEM...)
	return atomicfile.Write(filepath.Join(certsDir, domain+certExt), data, 0o600)
}

func removeCert(certsDir, domain string) error {
	if err := os.Remove(filepath.Join(certsDir, domain+certExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// loadCert reads a site's certificate file once per route version.
func (s *Server) loadCert(st *site) (*tls.Certificate, error) {
	st.certOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join(s.cfg.CertsDir, st.Domain+certExt))
		if err != nil {
			st.certErr = err
			return
		}
		c, err := tls.X509KeyPair(b, b)
		if err != nil {
			st.certErr = err
			return
		}
		st.cert = &c
	})
	return st.cert, st.certErr
}

// errNoCertificate fails a handshake for a name that has no certificate
// here; nothing of the name is echoed.
var errNoCertificate = errors.New("builtinweb: no certificate for the requested server name")

// getCertificate picks the certificate by SNI: the site whose domain or
// alias the name is, when it serves HTTPS.
func (s *Server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		return nil, errNoCertificate
	}
	e, ok := s.lookup(hello.ServerName)
	if !ok || e.site.TLS == nil {
		return nil, errNoCertificate
	}
	c, err := s.loadCert(e.site)
	if err != nil {
		s.log.Error("site certificate unreadable; run verify on the site", "site", e.site.Domain, "err", err)
		return nil, errNoCertificate
	}
	return c, nil
}

// TLSConfig is the server's TLS configuration: SNI picks each site's
// certificate.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: s.getCertificate, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
}

// ServeTLS accepts TLS connections on ln until Shutdown, terminating TLS
// with each site's certificate (by SNI). It returns nil after Shutdown.
func (s *Server) ServeTLS(ln net.Listener) error {
	s.log.Info("serving sites over HTTPS", "addr", ln.Addr().String(), "certs", s.cfg.CertsDir)
	if err := s.https.Serve(tls.NewListener(ln, s.https.TLSConfig)); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) shutdownTLS(ctx context.Context) error { return s.https.Shutdown(ctx) }

// serveChallenge answers an HTTP-01 challenge from the site's challenge
// dir; it reports false when r is not one.
func (s *Server) serveChallenge(w http.ResponseWriter, r *http.Request, st *site) bool {
	if r.TLS != nil || st.ChallengeDir == "" {
		return false
	}
	token, ok := strings.CutPrefix(r.URL.Path, certs.ChallengePath)
	if !ok {
		return false
	}
	if !certs.ValidToken(token) {
		s.page(w, r, http.StatusNotFound, pageNotFound)
		return true
	}
	b, err := os.ReadFile(filepath.Join(st.ChallengeDir, token))
	if err != nil {
		s.page(w, r, http.StatusNotFound, pageNotFound)
		return true
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b)
	return true
}

// redirectToHTTPS answers 301 to the same host, path and query over
// HTTPS, on the server's HTTPS port.
func (s *Server) redirectToHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if key, ok := hostKey(host); ok {
		host = key
	}
	if s.cfg.HTTPSPort != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(s.cfg.HTTPSPort))
	}
	uri := r.URL.RequestURI()
	if !strings.HasPrefix(uri, "/") {
		uri = "/"
	}
	w.Header().Set("Location", "https://"+host+uri)
	w.WriteHeader(http.StatusMovedPermanently)
}
