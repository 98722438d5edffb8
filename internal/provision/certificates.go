package provision

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/secrets"
)

// DefaultRenewWindow renews certificates this long before they expire.
const DefaultRenewWindow = 30 * 24 * time.Hour

// renewWindow is the context's renewal window, or the default.
func (j *job) renewWindow() time.Duration {
	if d, err := time.ParseDuration(j.c.Env.TLS.RenewWindow); err == nil && d > 0 {
		return d
	}
	return DefaultRenewWindow
}

// targetSite reports whether loc is the task's target site, whose
// certificate state the result may report.
func (j *job) targetSite(loc siteLoc) bool { return j.c.Site != nil && loc.ID == j.c.Site.ID }

// storedCert reads the site's certificate from the secrets store; nil
// when it has none or it does not parse (logged: it is then replaced).
func (j *job) storedCert(ctx context.Context, loc siteLoc) (*certs.Bundle, *certs.Info, string) {
	v, err := j.getSecret(ctx, secrets.SiteCertRef(loc.ID))
	if err != nil {
		if !errors.Is(err, secrets.ErrNotFound) {
			j.log.Warn("the site's certificate could not be read; serving without it", "domain", loc.Domain, "err", err)
		}
		return nil, nil, ""
	}
	b := certs.Bundle{CertPEM: []byte(v["cert"]), KeyPEM: []byte(v["key"])}
	info, err := certs.Inspect(b)
	if err != nil {
		j.log.Warn("the stored certificate is not usable; it will be replaced", "domain", loc.Domain, "err", err)
		return nil, nil, ""
	}
	return &b, &info, v["issuer"]
}

// webTLS is what a driver needs to serve b for loc.
func webTLS(loc siteLoc, b *certs.Bundle) *WebTLS {
	if b == nil || !loc.HTTPS.Enabled() {
		return nil
	}
	return &WebTLS{CertPEM: b.CertPEM, KeyPEM: b.KeyPEM, Redirect: loc.HTTPS == domain.HTTPSRedirect, HSTS: loc.HSTS}
}

// certPlan is what publish found of a site's certificate.
type certPlan struct {
	bundle *certs.Bundle
	info   *certs.Info
	issuer string
}

// ChallengeDirer is a WebDriver whose server reads ACME challenge files
// from a directory of its own choosing (nginx's workers cannot enter
// aegir's data dir); other drivers get certs.ChallengeDir(DataDir).
type ChallengeDirer interface {
	ChallengeDir() string
}

// challengeDir is where HTTP-01 answers for sites on w are written.
func (j *job) challengeDir(w *webConn) string {
	if c, ok := w.WebDriver.(ChallengeDirer); ok {
		return c.ChallengeDir()
	}
	return certs.ChallengeDir(j.c.Env.DataDir)
}

// withTLS adds the site's current certificate (if any) and the challenge
// dir to ws.
func (j *job) withTLS(ctx context.Context, w *webConn, loc siteLoc, ws *WebSite) certPlan {
	ws.ChallengeDir = j.challengeDir(w)
	if !loc.HTTPS.Enabled() {
		return certPlan{}
	}
	b, info, issuer := j.storedCert(ctx, loc)
	ws.TLS = webTLS(loc, b)
	return certPlan{bundle: b, info: info, issuer: issuer}
}

// ensureCertificate issues or renews the site's certificate when it has
// none, it expires within the renewal window or it misses a name, then
// publishes the site again with it. A failure is recorded on the result's
// certificate state and logged; the site keeps its current certificate
// (or HTTP). With strict (the certificate task) the failure also fails
// the task.
func (j *job) ensureCertificate(ctx context.Context, w *webConn, loc siteLoc, ws WebSite, plan certPlan, strict bool) error {
	if !loc.HTTPS.Enabled() || ws.Disabled || !j.targetSite(loc) {
		return nil
	}
	now := time.Now()
	names := append([]string{loc.Domain}, loc.Aliases...)
	var prev domain.Certificate
	if c := j.c.Site.Certificate; c != nil {
		prev = *c
	}
	if plan.info != nil {
		cur := certState(plan.issuer, *plan.info, prev.RenewedAt)
		if !cur.Due(now, j.renewWindow(), names) {
			if prev.NotAfter != cur.NotAfter || prev.Error != "" {
				j.res.Changes.Certificate = &cur // the store learns what is served
			}
			return nil
		}
	}
	issuer := cmp.Or(j.c.Env.TLS.Issuer, domain.IssuerLocal)
	if plan.issuer == domain.IssuerUploaded {
		issuer = domain.IssuerUploaded
	}
	j.log.Info("issuing a certificate", "domain", loc.Domain, "names", len(names), "issuer", issuer)
	b, err := j.issue(ctx, issuer, names, now, ws.ChallengeDir)
	if err == nil {
		var info certs.Info
		if info, err = certs.Inspect(b); err == nil {
			err = j.keepCert(ctx, loc, b, issuer)
		}
		if err == nil {
			ws.TLS = webTLS(loc, &b)
			if perr := w.Publish(ctx, ws); perr != nil {
				return failf(CodeWebPublishFailed, "Read the web server's error above; the site keeps its previous config.", perr,
					"%s refused the new certificate of %s", capital(w.String()), loc.Domain)
			}
			st := certState(issuer, info, now)
			j.res.Changes.Certificate = &st
			j.log.Info("certificate issued", "domain", loc.Domain, "issuer", issuer, "not_after", info.NotAfter.UTC().Format(time.RFC3339))
			return nil
		}
	}
	hint := "Fix the cause above and run verify; the site keeps its current certificate, or HTTP when it has none."
	var ae *certs.Error
	if errors.As(err, &ae) {
		hint = ae.Hint
	}
	failed := prev
	if plan.info != nil {
		// The state names the certificate still served (an upload's, on
		// its first check), so its expiry can be warned of.
		failed = certState(plan.issuer, *plan.info, prev.RenewedAt)
	}
	failed.Error, failed.Hint, failed.FailedAt, failed.Failures = err.Error(), hint, now, prev.Failures+1
	j.res.Changes.Certificate = &failed
	j.log.Warn("no certificate could be issued; the site keeps serving as it did", "domain", loc.Domain, "issuer", issuer, "err", err, "hint", hint)
	if strict {
		return failf(CodeCertificateFailed, hint, err, "No certificate could be issued for %s by the %s issuer", loc.Domain, issuer)
	}
	return nil
}

func certState(issuer string, info certs.Info, renewed time.Time) domain.Certificate {
	return domain.Certificate{Issuer: issuer, Names: info.Names, NotBefore: info.NotBefore, NotAfter: info.NotAfter,
		Serial: info.Serial, RenewedAt: renewed}
}

// issue gets a new bundle for names from issuer.
func (j *job) issue(ctx context.Context, issuer string, names []string, now time.Time, challengeDir string) (certs.Bundle, error) {
	switch issuer {
	case domain.IssuerLocal:
		ca, err := j.localCA(ctx, now)
		if err != nil {
			return certs.Bundle{}, err
		}
		return ca.Issue(names, now)
	case domain.IssuerACME:
		return j.issueACME(ctx, names, challengeDir)
	case domain.IssuerUploaded:
		return certs.Bundle{}, &certs.Error{Err: errors.New("the uploaded certificate expires soon or misses a name of the site"),
			Hint: "Upload a current certificate covering the domain and every alias (aegir site upload-certificate), or switch the site to the configured issuer by removing the upload."}
	}
	return certs.Bundle{}, fmt.Errorf("unknown certificate issuer %q: the tls issuer setting must be local or acme", issuer)
}

// localCA loads the local CA from the secrets store, making it on first
// use (aegir dev makes it at start, so back ends normally find it).
func (j *job) localCA(ctx context.Context, now time.Time) (*certs.LocalCA, error) {
	v, err := j.getSecret(ctx, secrets.LocalCARef)
	if err == nil {
		return certs.LoadLocalCA([]byte(v["cert"]), []byte(v["key"]))
	}
	if !errors.Is(err, secrets.ErrNotFound) {
		return nil, err
	}
	st, err := j.openSecrets()
	if err != nil {
		return nil, err
	}
	return EnsureLocalCA(ctx, st, now)
}

// EnsureLocalCA returns the local CA kept in st, making and keeping a new
// one when there is none.
func EnsureLocalCA(ctx context.Context, st secrets.Store, now time.Time) (*certs.LocalCA, error) {
	v, err := st.Get(ctx, secrets.LocalCARef)
	if err == nil {
		return certs.LoadLocalCA([]byte(v["cert"]), []byte(v["key"]))
	}
	if !errors.Is(err, secrets.ErrNotFound) {
		return nil, fmt.Errorf("read the local CA: %w", err)
	}
	ca, err := certs.NewLocalCA("aegir local CA", now)
	if err != nil {
		return nil, err
	}
	if err := st.Put(ctx, secrets.LocalCARef, map[string]string{"cert": string(ca.RootPEM), "key": string(ca.KeyPEM)}); err != nil {
		return nil, fmt.Errorf("keep the local CA: %w", err)
	}
	return ca, nil
}

// issueACME obtains a certificate from the configured ACME directory,
// keeping the account key as a secret.
func (j *job) issueACME(ctx context.Context, names []string, challengeDir string) (certs.Bundle, error) {
	t := j.c.Env.TLS
	if t.ACMEDirectory == "" {
		return certs.Bundle{}, &certs.Error{Err: errors.New("no ACME directory is configured"),
			Hint: "Set tls { acme_directory = \"...\" } in aegir's configuration (Let's Encrypt's by default on aegir server)."}
	}
	st, err := j.openSecrets()
	if err != nil {
		return certs.Bundle{}, err
	}
	cfg, ref, err := j.acmeConfig(ctx)
	if err != nil {
		return certs.Bundle{}, err
	}
	cfg.ChallengeDir = challengeDir
	accountKey := cfg.AccountKeyPEM
	b, key, err := certs.ObtainACME(ctx, cfg, names)
	if len(accountKey) == 0 && len(key) > 0 {
		j.red.Add(string(key))
		if perr := st.Put(ctx, ref, map[string]string{"key": string(key)}); perr != nil {
			j.log.Warn("the new ACME account key could not be kept; the next issuance registers again", "err", perr)
		}
	}
	return b, err
}

// acmeConfig is the context's ACME account: directory, contact, the
// account key kept at ref (nil before the first issuance) and the roots
// to trust for the directory's HTTPS.
func (j *job) acmeConfig(ctx context.Context) (certs.ACMEConfig, string, error) {
	t := j.c.Env.TLS
	sum := sha256.Sum256([]byte(t.ACMEDirectory))
	ref := secrets.ACMEAccountRef(hex.EncodeToString(sum[:8]))
	cfg := certs.ACMEConfig{Directory: t.ACMEDirectory, Email: t.ACMEEmail, Logger: j.log}
	if v, err := j.getSecret(ctx, ref); err == nil {
		cfg.AccountKeyPEM = []byte(v["key"])
	} else if !errors.Is(err, secrets.ErrNotFound) {
		return cfg, ref, err
	}
	if t.ACMERootsFile != "" {
		pem, err := os.ReadFile(t.ACMERootsFile)
		if err != nil {
			return cfg, ref, fmt.Errorf("read the ACME roots file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return cfg, ref, fmt.Errorf("the ACME roots file %s holds no PEM certificate", t.ACMERootsFile)
		}
	}
	return cfg, ref, nil
}

// revokeACME revokes certPEM with the configured ACME account.
func (j *job) revokeACME(ctx context.Context, certPEM []byte) error {
	if j.c.Env.TLS.ACMEDirectory == "" {
		return errors.New("no ACME directory is configured")
	}
	cfg, _, err := j.acmeConfig(ctx)
	if err != nil {
		return err
	}
	return certs.RevokeACME(ctx, cfg, certPEM)
}

// keepCert stores a site's bundle as a secret.
func (j *job) keepCert(ctx context.Context, loc siteLoc, b certs.Bundle, issuer string) error {
	st, err := j.openSecrets()
	if err != nil {
		return err
	}
	j.red.Add(string(b.KeyPEM))
	return st.Put(ctx, secrets.SiteCertRef(loc.ID), map[string]string{"cert": string(b.CertPEM), "key": string(b.KeyPEM), "issuer": issuer})
}

// deleteCert removes a deleted site's certificate, revoking it first when
// the configured ACME account issued it (a failed revocation is logged:
// the certificate expires on its own).
func (j *job) deleteCert(ctx context.Context, siteID string) {
	st, err := j.openSecrets()
	if err != nil {
		return
	}
	if v, err := j.getSecret(ctx, secrets.SiteCertRef(siteID)); err == nil && v["issuer"] == domain.IssuerACME {
		if err := j.revokeACME(ctx, []byte(v["cert"])); err != nil {
			j.log.Warn("the deleted site's certificate was not revoked; it expires on its own", "err", err)
		} else {
			j.log.Info("certificate revoked")
		}
	}
	if err := st.Delete(ctx, secrets.SiteCertRef(siteID)); err != nil && !errors.Is(err, secrets.ErrNotFound) {
		j.log.Warn("the deleted site's certificate could not be removed from the secrets store", "err", err)
	}
}

// certificateTask issues or renews the site's certificate (the
// certificates queue's task): like verify's publishing, but a failure
// fails the task, so the queue backs off and lists the site.
func certificateTask(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	if !se.loc.HTTPS.Enabled() {
		j.res.Summary = fmt.Sprintf("%s has HTTPS off: no certificate needed", se.loc.Domain)
		return nil
	}
	disabled := j.c.Site.Status == domain.SiteDisabled
	ws := j.webSite(se.loc, se.web, disabled)
	plan := j.withTLS(ctx, se.web, se.loc, &ws)
	if err := j.ensureCertificate(ctx, se.web, se.loc, ws, plan, true); err != nil {
		return err
	}
	j.res.Summary = fmt.Sprintf("certificate of %s is current", se.loc.Domain)
	if c := j.res.Changes.Certificate; c != nil && !c.NotAfter.IsZero() {
		j.res.Summary = fmt.Sprintf("certificate of %s valid until %s", se.loc.Domain, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
