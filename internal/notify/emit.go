package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/secrets"
)

// Emitter turns what the dispatcher and the queues see into events in the
// store's outbox, for the leader's Notifier. It is what
// dispatch.Config.Events and queue.Config.Events are given.
type Emitter struct {
	Store *store.Store
}

// TaskFailed queues a task_failed event for a task that ended failed.
// Tasks a queue pass asked for are left to queue_site_failing, which
// speaks once per streak rather than once per pass. The event carries the
// task's explanation and hint, which the back end has redacted, and none
// of its arguments.
func (em Emitter) TaskFailed(ctx context.Context, t domain.Task) error {
	if t.Status != domain.TaskFailed || t.RequestedBy == "queue" {
		return nil
	}
	target := t.TargetName
	if target == "" {
		target = string(t.TargetKind) + " " + t.TargetID
	}
	return em.Store.AddEvent(ctx, &domain.Event{
		Kind: domain.EventTaskFailed, ClientID: t.ClientID,
		Subject:    fmt.Sprintf("Task %s on %s failed", t.Type, target),
		TargetKind: t.TargetKind, TargetID: t.TargetID, Target: t.TargetName,
		TaskID: t.ID, TaskType: t.Type, ErrorCode: t.ErrorCode, Explanation: t.Explanation, FixHint: t.FixHint,
	})
}

// SiteFailing queues a queue_site_failing event: site failed run.Failures
// passes of queue in a row.
func (em Emitter) SiteFailing(ctx context.Context, queue string, site domain.Site, run apiv1.QueueRun) error {
	return em.Store.AddEvent(ctx, &domain.Event{
		Kind: domain.EventQueueSiteFailing, ClientID: site.ClientID,
		Subject:    fmt.Sprintf("Site %s failed %d %s passes in a row", site.Domain, run.Failures, queue),
		TargetKind: domain.TargetSite, TargetID: site.ID, Target: site.Domain,
		TaskID: run.TaskID, Explanation: run.Error, Queue: queue, Failures: run.Failures,
		FixHint: fmt.Sprintf("The %s queue backs the site off; look at its last task, fix the cause, and the next pass tries again.", queue),
	})
}

// CertificateExpiring queues a certificate_expiring event: site's
// certificate c expires within the warning window and nothing renewed it
// (its last renewal failed, or it was uploaded and only an upload
// replaces it). The certificates queue sends it once per certificate.
func (em Emitter) CertificateExpiring(ctx context.Context, site domain.Site, c domain.Certificate, now time.Time) error {
	left := c.NotAfter.Sub(now).Round(time.Hour)
	e := &domain.Event{
		Kind: domain.EventCertificateExpiring, ClientID: site.ClientID,
		Subject:    fmt.Sprintf("The certificate of %s expires in %s (%s)", site.Domain, left, c.NotAfter.UTC().Format(time.RFC3339)),
		TargetKind: domain.TargetSite, TargetID: site.ID, Target: site.Domain, Queue: "certificates", Failures: c.Failures,
		Explanation: c.Error, FixHint: c.Hint,
	}
	if c.Issuer == domain.IssuerUploaded && e.FixHint == "" {
		e.FixHint = "The certificate was uploaded, so aegir cannot renew it: upload a current one (aegir site upload-certificate)."
	}
	if e.Explanation == "" {
		e.Explanation = "The certificate was not renewed."
	}
	return em.Store.AddEvent(ctx, e)
}

// DiskLow queues a disk_low event: client cl uses used bytes of its disk
// quota of limit bytes (the stats queue sends it once per streak over its
// warning share).
func (em Emitter) DiskLow(ctx context.Context, cl domain.Client, used, limit int64) error {
	return em.Store.AddEvent(ctx, &domain.Event{
		Kind: domain.EventDiskLow, ClientID: cl.ID,
		Subject:     fmt.Sprintf("Client %s uses %d%% of its disk quota", cl.Name, used*100/limit),
		Target:      cl.Name,
		Explanation: fmt.Sprintf("Its sites' files and databases (as last measured) and its backups take %d of the %d bytes of its disk quota; at the quota, new sites, clones and backups are refused.", used, limit),
		FixHint:     "Delete backups or sites the client no longer needs, or raise its disk quota (aegir client edit -quota disk=...).",
	})
}

// StoredSecrets reads webhooks' signing secrets from a secrets backend
// (secrets.WebhookSecretRef, key "secret").
type StoredSecrets struct {
	Store secrets.Store
}

// WebhookSecret implements SecretReader.
func (s StoredSecrets) WebhookSecret(ctx context.Context, subscriptionID string) (string, error) {
	m, err := s.Store.Get(ctx, secrets.WebhookSecretRef(subscriptionID))
	if err != nil {
		return "", err
	}
	return m["secret"], nil
}
