package queue

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// Warnings the queues send beside queue_site_failing, for notifications
// (SiteEvents), each once per streak: the mark that it was sent is a
// queue record (store.CertificateWarnings, store.DiskWarnings) written by
// the holder of the queue's lock.
//
//   - certificate_expiring, after each certificates pass: a site with HTTPS
//     whose certificate expires within Config.ExpiryWarning and whose last
//     renewal failed, or which was uploaded (nothing renews it). Once per
//     certificate: a renewed certificate, with a new expiry, starts a new
//     streak.
//   - disk_low, after each stats pass (which measures the sites' disk): a
//     client with a disk quota using at least Config.DiskWarnPercent of
//     it, counted as the quota counts it (its sites' files and databases,
//     and its backups). aegir measures no server's free disk, so the quota
//     is the only disk figure it can warn about. The mark is removed when
//     the client is back under the share, so the next crossing warns
//     again.

// warnCertificates sends certificate_expiring for the sites that need it.
func (q *Queues) warnCertificates(ctx context.Context) error {
	_, byID, err := q.siteStates(ctx) // read again: the pass's tasks changed the certificates
	if err != nil {
		return err
	}
	recs, err := q.st.ListQueueRecords(ctx, store.CertificateWarnings())
	if err != nil {
		return err
	}
	warned := map[string]time.Time{}
	for _, r := range recs {
		var at time.Time
		if json.Unmarshal(r.Value, &at) == nil {
			warned[r.ID] = at
		}
		if s := byID[r.ID]; s == nil || s.Certificate == nil || !s.Certificate.NotAfter.Equal(at) {
			// The site or its certificate is gone: the streak ended.
			if err := q.st.DeleteQueueRecord(ctx, store.CertificateWarnings().Key(r.ID), r.Version); err != nil {
				q.log.Warn("stale certificate warning mark not removed", "site", r.ID, "err", err)
			}
		}
	}
	now := q.cfg.Now()
	for id, s := range byID {
		c := s.Certificate
		if !s.HTTPS.Enabled() || c == nil || c.NotAfter.IsZero() || now.Add(q.cfg.ExpiryWarning).Before(c.NotAfter) {
			continue
		}
		if c.Error == "" && c.Issuer != domain.IssuerUploaded {
			continue // renewal has not failed: the queue is on it
		}
		if at, ok := warned[id]; ok && at.Equal(c.NotAfter) {
			continue
		}
		if err := q.cfg.Events.CertificateExpiring(ctx, *s, *c, now); err != nil {
			return err
		}
		b, _ := json.Marshal(c.NotAfter)
		if err := q.st.SetQueueRecords(ctx, map[store.QueueKey][]byte{store.CertificateWarnings().Key(id): b}); err != nil {
			return err
		}
	}
	return nil
}

// warnDisk sends disk_low for the clients that need it.
func (q *Queues) warnDisk(ctx context.Context) error {
	clients, err := q.st.ListClients(ctx)
	if err != nil {
		return err
	}
	stored, _, err := q.st.QuotaDefaults(ctx)
	if err != nil {
		return err
	}
	defaults := q.cfg.QuotaDefaults.Over(stored)
	recs, err := q.st.ListQueueRecords(ctx, store.DiskWarnings())
	if err != nil {
		return err
	}
	marked := map[string]uint64{}
	for _, r := range recs {
		marked[r.ID] = r.Version
	}
	for _, cl := range clients {
		version, warned := marked[cl.ID]
		delete(marked, cl.ID)
		limit := defaults.Over(cl.Quotas)[domain.QuotaDisk]
		var used int64
		if limit > 0 {
			usage, err := q.st.QuotaUsage(ctx, cl.ID)
			if err != nil {
				return err
			}
			used = usage[domain.QuotaDisk]
		}
		over := limit > 0 && used*100 >= limit*int64(q.cfg.DiskWarnPercent)
		switch {
		case over && !warned:
			if err := q.cfg.Events.DiskLow(ctx, cl, used, limit); err != nil {
				return err
			}
			if err := q.st.SetQueueRecords(ctx, map[store.QueueKey][]byte{store.DiskWarnings().Key(cl.ID): []byte("true")}); err != nil {
				return err
			}
		case !over && warned:
			if err := q.st.DeleteQueueRecord(ctx, store.DiskWarnings().Key(cl.ID), version); err != nil {
				return err
			}
		}
	}
	for id, version := range marked { // clients deleted since
		_ = q.st.DeleteQueueRecord(ctx, store.DiskWarnings().Key(id), version)
	}
	return nil
}
