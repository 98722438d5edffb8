package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Bundle is a certificate chain, leaf first, and the leaf's private key,
// both PEM.
type Bundle struct {
	CertPEM []byte
	KeyPEM  []byte
}

// Info is what a bundle's leaf certificate says.
type Info struct {
	Names     []string // DNS names, sorted
	NotBefore time.Time
	NotAfter  time.Time
	Serial    string // hex
	Issuer    string // the issuer's common name
}

// MaxBundleSize bounds an uploaded bundle (chain plus key).
const MaxBundleSize = 64 * 1024

// ErrInvalid is the identity of every bundle that fails Check or Inspect.
var ErrInvalid = errors.New("invalid certificate")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// parseChain reads every CERTIFICATE block of pemData, leaf first.
func parseChain(pemData []byte) ([]*x509.Certificate, error) {
	if len(pemData) > MaxBundleSize {
		return nil, invalidf("the certificate is larger than %d bytes", MaxBundleSize)
	}
	var chain []*x509.Certificate
	rest := pemData
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, invalidf("the certificate file holds a %q block; give only CERTIFICATE blocks, leaf first", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, invalidf("a certificate does not parse: %v", err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, invalidf("no PEM CERTIFICATE block found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, invalidf("the certificate file has trailing data that is not PEM")
	}
	return chain, nil
}

// parseKey reads one PEM private key (PKCS#8, EC or PKCS#1).
func parseKey(pemData []byte) (crypto.Signer, error) {
	if len(pemData) > MaxBundleSize {
		return nil, invalidf("the key is larger than %d bytes", MaxBundleSize)
	}
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, invalidf("no PEM private key found")
	}
	var key any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, invalidf("the key is a %q block; give an unencrypted PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY", b.Type)
	}
	if err != nil {
		return nil, invalidf("the private key does not parse: %v", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, invalidf("the private key is of an unsupported type %T", key)
	}
	return s, nil
}

// sameKey reports whether pub is the public half of key.
func sameKey(pub any, key crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		return k.(equaler).Equal(pub)
	}
	return false
}

func infoOf(leaf *x509.Certificate) Info {
	names := slices.Clone(leaf.DNSNames)
	slices.Sort(names)
	return Info{Names: names, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		Serial: hex.EncodeToString(leaf.SerialNumber.Bytes()), Issuer: leaf.Issuer.CommonName}
}

// Inspect parses a bundle and checks that the key is the leaf's; it says
// nothing of names or dates.
func Inspect(b Bundle) (Info, error) {
	chain, err := parseChain(b.CertPEM)
	if err != nil {
		return Info{}, err
	}
	key, err := parseKey(b.KeyPEM)
	if err != nil {
		return Info{}, err
	}
	if !sameKey(chain[0].PublicKey, key) {
		return Info{}, invalidf("the private key does not belong to the first certificate: give the leaf's key, and the leaf first")
	}
	return infoOf(chain[0]), nil
}

// MinRSABits is the smallest RSA key Check takes: OpenSSL's default
// security level (2 on Debian) makes nginx refuse smaller ones at
// nginx -t, which would leave the site on its previous certificate.
const MinRSABits = 2048

// CheckOptions are what Check holds a bundle to.
type CheckOptions struct {
	// Names must all be covered by the leaf (DNS SANs, wildcards allowed).
	Names []string
	// Now is when the leaf must be valid. Default time.Now().
	Now time.Time
	// Roots, when set, must anchor the chain; nil checks only that each
	// certificate is signed by the next.
	Roots *x509.CertPool
}

// Check validates a bundle as an upload: chain order and signatures, key
// match, names, validity dates, and (with Roots) trust. Errors wrap
// ErrInvalid and say what to fix.
func Check(b Bundle, o CheckOptions) (Info, error) {
	info, err := Inspect(b)
	if err != nil {
		return Info{}, err
	}
	chain, _ := parseChain(b.CertPEM)
	leaf := chain[0]
	if k, ok := leaf.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < MinRSABits {
		return Info{}, invalidf("the certificate's RSA key has %d bits; web servers (OpenSSL's default security level) refuse fewer than %d: issue one on a larger key or an ECDSA key", k.N.BitLen(), MinRSABits)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Now.Before(leaf.NotBefore) {
		return Info{}, invalidf("the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if !o.Now.Before(leaf.NotAfter) {
		return Info{}, invalidf("the certificate expired on %s: upload a current one", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	for _, n := range o.Names {
		if err := leaf.VerifyHostname(n); err != nil {
			return Info{}, invalidf("the certificate does not cover %s (it covers %v): add the name to the certificate or remove the alias", n, leaf.DNSNames)
		}
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return Info{}, invalidf("certificate %d of the chain is not signed by certificate %d: order the chain leaf first, each followed by its issuer", i+1, i+2)
		}
	}
	if o.Roots != nil {
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: o.Roots, Intermediates: inter, CurrentTime: o.Now}); err != nil {
			return Info{}, invalidf("the chain does not lead to a trusted root (%v): include the intermediate certificates", err)
		}
	}
	return info, nil
}

// TLSCertificate turns a bundle into a tls.Certificate with its leaf
// parsed.
func TLSCertificate(b Bundle) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	return &c, nil
}

// encodeKey is key as a PKCS#8 PEM block.
func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
