package control

import (
	"context"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/domain"
)

// CertificateWriter stores a site's uploaded certificate chain and key in
// the secrets backend (secrets.SiteCertRef). A CredentialWriter that is
// also one takes uploads; otherwise uploads are unavailable.
type CertificateWriter interface {
	PutSiteCertificate(ctx context.Context, siteID string, certPEM, keyPEM []byte) error
}

// UploadCertificate checks an operator's certificate for the site named by
// ref (chain order and signatures, the key is the leaf's, the domain and
// every alias covered, valid now), stores it as the site's certificate
// and queues a verify that serves it. A bad certificate changes nothing.
// The key is never recorded: the audit entry names the certificate only.
func (s *Sites) UploadCertificate(ctx context.Context, a Actor, ref string, req apiv1.CertificateUpload) (*domain.Task, error) {
	site, err := s.Get(ctx, a, ref)
	if err != nil {
		return nil, err
	}
	w, ok := s.secrets.(CertificateWriter)
	if !ok {
		return nil, Unavailable("the secrets backend")
	}
	b := certs.Bundle{CertPEM: []byte(req.Certificate), KeyPEM: []byte(req.Key)}
	info, err := certs.Check(b, certs.CheckOptions{Names: site.Names(), Now: time.Now()})
	if err != nil {
		return nil, domain.Invalid("certificate", "%v", err)
	}
	if err := w.PutSiteCertificate(ctx, site.ID, b.CertPEM, b.KeyPEM); err != nil {
		return nil, err
	}
	e := a.entry("upload_certificate", "site", site.ID, site.ClientID)
	e.Fields = map[string]string{"serial": info.Serial, "not_after": info.NotAfter.UTC().Format(time.RFC3339), "key": "(secret)"}
	if err := s.st.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return s.Task(ctx, a, site.ID, apiv1.TaskRequest{Type: string(domain.TaskVerify)})
}
