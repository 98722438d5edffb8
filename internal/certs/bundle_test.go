package certs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

type bundle struct {
	ca  *LocalCA
	now time.Time
}

func setup(t *testing.T) bundle {
	t.Helper()
	now := time.Now()
	ca, err := NewLocalCA("aegir test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	return bundle{ca: ca, now: now}
}

func TestLocalCAChainVerifiesWithItsRoot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	names := []string{"example.test", "www.example.test"}
	bd, err := b.ca.Issue(names, b.now)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Check(bd, CheckOptions{Names: names, Roots: b.ca.Pool()})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if info.Issuer != "aegir test CA" || len(info.Names) != 2 || info.NotAfter.Sub(b.now) < 29*24*time.Hour {
		t.Errorf("info %+v", info)
	}
	// A Go client that trusts only the root gets a verified connection.
	cert, err := TLSCertificate(bd)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: b.ca.Pool(), ServerName: "www.example.test"},
	}}
	resp, err := c.Get("https://127.0.0.1:" + port + "/")
	if err != nil {
		t.Fatalf("client with the local root: %v", err)
	}
	resp.Body.Close()
	// Loading the kept root and key gives the same CA.
	again, err := LoadLocalCA(b.ca.RootPEM, b.ca.KeyPEM)
	if err != nil || !again.root.Equal(b.ca.root) {
		t.Fatalf("LoadLocalCA: %v", err)
	}
}

func TestCheckRefusesBadUploads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	good, _ := b.ca.Issue([]string{"example.test"}, b.now)
	other, _ := b.ca.Issue([]string{"example.test"}, b.now)
	old, _ := b.ca.Issue([]string{"example.test"}, b.now.Add(-100*24*time.Hour))
	otherCA := setup(t).ca
	for _, tc := range []struct {
		name string
		b    Bundle
		o    CheckOptions
		want string
	}{
		{"key of another certificate", Bundle{good.CertPEM, other.KeyPEM}, CheckOptions{}, "does not belong"},
		{"missing alias", good, CheckOptions{Names: []string{"example.test", "www.example.test"}}, "does not cover www.example.test"},
		{"expired", old, CheckOptions{}, "expired"},
		{"untrusted root", good, CheckOptions{Roots: otherCA.Pool()}, "trusted root"},
		{"chain out of order", Bundle{append(append([]byte{}, otherCA.RootPEM...), good.CertPEM...), good.KeyPEM}, CheckOptions{}, "does not belong"},
		{"wrong issuer in chain", Bundle{append(append([]byte{}, good.CertPEM...), otherCA.RootPEM...), good.KeyPEM}, CheckOptions{}, "not signed by"},
		{"not pem", Bundle{[]byte("hello"), good.KeyPEM}, CheckOptions{}, "no PEM"},
		{"key is a certificate", Bundle{good.CertPEM, good.CertPEM}, CheckOptions{}, "CERTIFICATE"},
		{"trailing junk", Bundle{append(append([]byte{}, good.CertPEM...), "junk"...), good.KeyPEM}, CheckOptions{}, "trailing"},
		{"RSA key too small for web servers", weakRSA(t, "example.test"), CheckOptions{}, "1024 bits"},
	} {
		_, err := Check(tc.b, tc.o)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want ErrInvalid with %q", tc.name, err, tc.want)
		}
	}
	if _, err := Check(good, CheckOptions{Names: []string{"example.test"}, Roots: b.ca.Pool()}); err != nil {
		t.Errorf("good bundle: %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	ca, _ := NewLocalCA("fuzz", time.Now())
	good, _ := ca.Issue([]string{"example.test"}, time.Now())
	f.Add(good.CertPEM, good.KeyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte{})
	for _, s := range testharness.HostileInputs {
		f.Add([]byte(s), good.KeyPEM)
		f.Add(good.CertPEM, []byte(s))
	}
	f.Fuzz(func(t *testing.T, cert, key []byte) {
		_, err := Check(Bundle{cert, key}, CheckOptions{Names: []string{"example.test"}})
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error without ErrInvalid: %v", err)
		}
	})
}

func TestValidToken(t *testing.T) {
	t.Parallel()
	for tok, want := range map[string]bool{"abc-DEF_09": true, "": false, "../etc": false, "a/b": false, ".hidden": false, strings.Repeat("a", 257): false} {
		if ValidToken(tok) != want {
			t.Errorf("ValidToken(%q) != %v", tok, want)
		}
	}
}

// weakRSA is a self-signed certificate for name on a 1024-bit RSA key.
func weakRSA(t *testing.T, name string) Bundle {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return Bundle{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})}
}
