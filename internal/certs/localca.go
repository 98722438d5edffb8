package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// LocalCA is aegir's own certificate authority: a root that signs site
// certificates directly. `aegir dev` uses it so sites answer over HTTPS
// offline; clients trust it by importing RootPEM.
type LocalCA struct {
	root    *x509.Certificate
	key     crypto.Signer
	RootPEM []byte
	KeyPEM  []byte
}

// LocalCALifetime is how long a new root is valid; LocalLeafLifetime how
// long the certificates it signs are (as Let's Encrypt's: renewed 30 days before).
const (
	LocalCALifetime   = 10 * 365 * 24 * time.Hour
	LocalLeafLifetime = 90 * 24 * time.Hour
)

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// NewLocalCA makes a new root named name ("aegir local CA").
func NewLocalCA(name string, now time.Time) (*LocalCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"aegir"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(LocalCALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return LoadLocalCA(encodeCert(der), keyPEM)
}

// LoadLocalCA reads a root made by NewLocalCA (kept as a secret).
func LoadLocalCA(rootPEM, keyPEM []byte) (*LocalCA, error) {
	chain, err := parseChain(rootPEM)
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	if !chain[0].IsCA || !sameKey(chain[0].PublicKey, key) {
		return nil, fmt.Errorf("local CA: %w: the root is not a CA certificate or its key does not match", ErrInvalid)
	}
	return &LocalCA{root: chain[0], key: key, RootPEM: rootPEM, KeyPEM: keyPEM}, nil
}

// Issue signs a new certificate for names (the first is the subject) with
// a fresh P-256 key, valid LocalLeafLifetime from now.
func (ca *LocalCA) Issue(names []string, now time.Time) (Bundle, error) {
	if len(names) == 0 {
		return Bundle{}, fmt.Errorf("local CA: no names to certify")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Bundle{}, err
	}
	sn, err := serial()
	if err != nil {
		return Bundle{}, err
	}
	notAfter := now.Add(LocalLeafLifetime)
	if notAfter.After(ca.root.NotAfter) {
		notAfter = ca.root.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, key.Public(), ca.key)
	if err != nil {
		return Bundle{}, fmt.Errorf("local CA: sign: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Bundle{}, err
	}
	return Bundle{CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// Pool is a cert pool holding the root, for clients that trust it.
func (ca *LocalCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.root)
	return p
}
