package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/go-acme/lego/v5/registration"
)

// ACMEConfig configures an ACME issuer.
type ACMEConfig struct {
	// Directory is the ACME directory URL. Required (Let's Encrypt's is
	// https://acme-v02.api.letsencrypt.org/directory).
	Directory string
	// Email is the account's contact; optional.
	Email string
	// AccountKeyPEM is the account's key (a secret); empty makes a new
	// account key, returned by Obtain for the caller to keep.
	AccountKeyPEM []byte
	// ChallengeDir is where HTTP-01 answers are written for the web
	// server to serve (ChallengeDir(dataDir)). Required.
	ChallengeDir string
	// RootCAs verifies the ACME server's own HTTPS certificate. Default:
	// the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds one issuance. Default 2 minutes.
	Timeout time.Duration
	// Logger receives lego's progress lines. Default: discard.
	Logger *slog.Logger
}

// lego logs through one process-wide logger that writes to stdout by
// default; a back end's stdout is its result, so it is silenced here and
// pointed at the issuing task's logger by ObtainACME.
func init() { legolog.SetDefault(slog.New(slog.DiscardHandler)) }

// Error is a failed issuance: what went wrong and what the operator can
// do about it.
type Error struct {
	Problem string // the ACME problem type, when the server sent one
	Err     error
	Hint    string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// acmeUser is lego's view of the account.
type acmeUser struct {
	email string
	key   crypto.Signer
	reg   *acme.ExtendedAccount
}

func (u *acmeUser) GetEmail() string                       { return u.email }
func (u *acmeUser) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *acmeUser) GetPrivateKey() crypto.Signer           { return u.key }

// acmeClient is a lego client for cfg's account (registered, or found
// by its key), and the account key PEM (the given one, or a new one).
func acmeClient(ctx context.Context, cfg ACMEConfig) (*lego.Client, []byte, error) {
	accountPEM := cfg.AccountKeyPEM
	var key crypto.Signer
	if len(accountPEM) == 0 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		if accountPEM, err = encodeKey(k); err != nil {
			return nil, nil, err
		}
		key = k
	} else {
		k, err := parseKey(accountPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("acme account key: %w", err)
		}
		key = k
	}
	user := &acmeUser{email: cfg.Email, key: key}
	lc := lego.NewConfig(user)
	lc.CADirURL = cfg.Directory
	lc.Certificate.Timeout = cfg.Timeout
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs}
	lc.HTTPClient = &http.Client{Timeout: cfg.Timeout, Transport: tr}
	client, err := lego.NewClient(lc)
	if err != nil {
		return nil, accountPEM, explain(err, "Check that the ACME directory URL is right and reachable from the server.")
	}
	reg, err := client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		return nil, accountPEM, explain(err, "The ACME account could not be registered: check the directory URL and the contact email.")
	}
	user.reg = reg
	return client, accountPEM, nil
}

func (cfg *ACMEConfig) defaults() {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Logger != nil {
		legolog.SetDefault(cfg.Logger.With("component", "lego"))
	}
}

// ObtainACME registers (or finds) the account and obtains a certificate
// for names (the first is the subject) by HTTP-01. It returns the bundle
// and the account key PEM (the one given, or a new one to keep as a
// secret). A failure is an *Error with a hint.
func ObtainACME(ctx context.Context, cfg ACMEConfig, names []string) (Bundle, []byte, error) {
	if cfg.Directory == "" || cfg.ChallengeDir == "" {
		return Bundle{}, nil, fmt.Errorf("acme: the directory URL and the challenge dir are required")
	}
	cfg.defaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	client, accountPEM, err := acmeClient(ctx, cfg)
	if err != nil {
		return Bundle{}, accountPEM, err
	}
	if err := client.Challenge.SetHTTP01Provider(dirProvider{dir: cfg.ChallengeDir}); err != nil {
		return Bundle{}, accountPEM, err
	}
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: names, Bundle: true, KeyType: certcrypto.EC256})
	if err != nil {
		return Bundle{}, accountPEM, explain(err, "")
	}
	b := Bundle{CertPEM: res.Certificate, KeyPEM: res.PrivateKey}
	if _, err := Inspect(b); err != nil {
		return Bundle{}, accountPEM, fmt.Errorf("acme: the issued certificate: %w", err)
	}
	return b, accountPEM, nil
}

// RevokeACME revokes a certificate the account of cfg (its key required)
// obtained, for a site that is gone (reason cessationOfOperation).
func RevokeACME(ctx context.Context, cfg ACMEConfig, certPEM []byte) error {
	if cfg.Directory == "" || len(cfg.AccountKeyPEM) == 0 {
		return fmt.Errorf("acme revoke: the directory URL and the account key are required")
	}
	cfg.defaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	client, _, err := acmeClient(ctx, cfg)
	if err != nil {
		return err
	}
	reason := uint(5) // cessationOfOperation (RFC 5280)
	if err := client.Certificate.RevokeWithReason(ctx, certPEM, &reason); err != nil {
		return explain(err, "The certificate could not be revoked; it expires on its own.")
	}
	return nil
}

// explain wraps err in an *Error with the hint its ACME problem calls
// for (fallback when the server sent none).
func explain(err error, fallback string) error {
	e := &Error{Err: err, Hint: fallback}
	var pd *acme.ProblemDetails
	if errors.As(err, &pd) {
		e.Problem = pd.Type
		if h := problemHints[pd.Type]; h != "" {
			e.Hint = h
		}
	}
	if e.Hint == "" {
		e.Hint = "Check that every name of the site resolves to this server and that port 80 reaches its web server; the site keeps its current certificate (or HTTP) meanwhile. Retry with a verify."
	}
	return e
}

var problemHints = map[string]string{
	acme.ConnectionErrorType:         "The ACME server could not connect to the site on port 80: open port 80 to the web server and point every name (domain and aliases) at this server.",
	acme.DNSErrorType:                "A name of the site does not resolve: create its DNS record (A/AAAA to this server) or remove the alias.",
	acme.UnauthorizedErrorType:       "The ACME server fetched the challenge but got the wrong answer: a name points at another server, a proxy in front answers /.well-known/acme-challenge/ itself, or the web server cannot read the challenge file (its log says so).",
	acme.IncorrectResponseErrorType:  "The challenge answer was wrong: a name points at another server, or a proxy in front answers /.well-known/acme-challenge/ itself.",
	acme.RateLimitedErrorType:        "The ACME server's rate limit is reached: wait before retrying (the renewal queue backs off by itself).",
	acme.CaaErrorType:                "A CAA DNS record forbids this ACME CA from issuing for the domain: allow it in the CAA record.",
	acme.RejectedIdentifierErrorType: "The ACME server will not issue for a name (a reserved or internal name): remove it or use the local CA or an uploaded certificate.",
}
