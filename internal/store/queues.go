package store

import (
	"context"
	"slices"
	"strings"
)

// The periodic queues (scheduler/queue) keep their own records: settings,
// each site's run record, pass reports, cron outputs and stats. What a
// record holds (JSON) is the queue package's; where it lives is the
// store's:
//
//	queues/<name>/settings        a queue's settings (check-and-set)
//	queues/<name>/runs/<siteID>   a site's run record, written only by the lock holder
//	queues/<name>/passes/<id>     the report of a pass (the last few)
//	queues/<name>/last            the report of the last ended pass
//	queues/cron/output/<siteID>   a site's last cron outputs
//	queues/stats/series/<siteID>  a site's stats series
//	queues/stats/latest/<siteID>  a site's latest stats, summed into queues/stats/fleet
//	queues/stats/fleet            the fleet's stats series

const prefixQueues = "queues/"

// QueueKey names one record of the periodic queues.
type QueueKey struct{ key string }

// String is where the record lives, for messages.
func (k QueueKey) String() string { return k.key }

// QueueRecords names a set of records of the periodic queues, one per id
// (site or pass).
type QueueRecords struct{ prefix string }

// QueueSettingsKey is a queue's settings.
func QueueSettingsKey(queue string) QueueKey { return QueueKey{prefixQueues + queue + "/settings"} }

// QueueLastPassKey is the report of a queue's last ended pass.
func QueueLastPassKey(queue string) QueueKey { return QueueKey{prefixQueues + queue + "/last"} }

// QueueRuns are a queue's run records, one per site.
func QueueRuns(queue string) QueueRecords { return QueueRecords{prefixQueues + queue + "/runs/"} }

// CertificateWarnings are the certificates queue's certificate_expiring
// marks, one per site: the expiry of the certificate last warned of, so
// each certificate is warned of once.
func CertificateWarnings() QueueRecords { return QueueRecords{prefixQueues + "certificates/warned/"} }

// DiskWarnings are the stats queue's disk_low marks, one per client that
// is over the warning share of its disk quota; removed when it is back
// under, so each streak is warned of once.
func DiskWarnings() QueueRecords { return QueueRecords{prefixQueues + "stats/disk-low/"} }

// QueuePasses are a queue's pass reports, one per pass.
func QueuePasses(queue string) QueueRecords { return QueueRecords{prefixQueues + queue + "/passes/"} }

// CronOutputKey is a site's last cron outputs.
func CronOutputKey(siteID string) QueueKey { return QueueKey{prefixQueues + "cron/output/" + siteID} }

// StatsSeriesKey is a site's stats series.
func StatsSeriesKey(siteID string) QueueKey { return QueueKey{prefixQueues + "stats/series/" + siteID} }

// StatsLatest are the sites' latest stats, one per site.
func StatsLatest() QueueRecords { return QueueRecords{prefixQueues + "stats/latest/"} }

// FleetStatsKey is the fleet's stats series.
func FleetStatsKey() QueueKey { return QueueKey{prefixQueues + "stats/fleet"} }

// Key is the record of id in the set.
func (r QueueRecords) Key(id string) QueueKey { return QueueKey{r.prefix + id} }

// QueueRecord is a record of the periodic queues as read, with the
// version a check-and-set write names.
type QueueRecord struct {
	// ID is the record's id in its set (QueueRecords); "" for a single
	// record (QueueKey).
	ID      string
	Value   []byte
	Version uint64
}

// GetQueueRecord reads one record; a missing one gives an error wrapping
// ErrKeyNotFound.
func (s *Store) GetQueueRecord(ctx context.Context, k QueueKey) (QueueRecord, error) {
	p, err := s.kv.Get(ctx, k.key)
	if err != nil {
		return QueueRecord{}, err
	}
	return QueueRecord{Value: p.Value, Version: p.ModifyIndex}, nil
}

// ListQueueRecords reads every record of a set, ordered by id.
func (s *Store) ListQueueRecords(ctx context.Context, r QueueRecords) ([]QueueRecord, error) {
	pairs, _, err := s.kv.List(ctx, r.prefix)
	if err != nil {
		return nil, err
	}
	out := make([]QueueRecord, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, QueueRecord{ID: strings.TrimPrefix(p.Key, r.prefix), Value: p.Value, Version: p.ModifyIndex})
	}
	slices.SortFunc(out, func(a, b QueueRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// PutQueueRecord writes a record check-and-set on version (0: it must not
// exist yet) and returns its new version. A record changed since gives an
// error wrapping ErrCASFailed.
func (s *Store) PutQueueRecord(ctx context.Context, k QueueKey, value []byte, version uint64) (uint64, error) {
	pairs, err := s.kv.Txn(ctx, []Op{{Verb: OpCAS, Key: k.key, Value: value, Index: version}})
	if err != nil {
		return 0, err
	}
	return pairs[0].ModifyIndex, nil
}

// SetQueueRecords writes records whatever their version (their writer is
// the only one: the holder of the queue's lock, or the last report wins),
// in transactions of at most MaxTxnOps.
func (s *Store) SetQueueRecords(ctx context.Context, recs map[QueueKey][]byte) error {
	ops := make([]Op, 0, min(len(recs), MaxTxnOps))
	for k, v := range recs {
		ops = append(ops, Op{Verb: OpSet, Key: k.key, Value: v})
		if len(ops) == MaxTxnOps {
			if _, err := s.kv.Txn(ctx, ops); err != nil {
				return err
			}
			ops = ops[:0]
		}
	}
	if len(ops) == 0 {
		return nil
	}
	_, err := s.kv.Txn(ctx, ops)
	return err
}

// DeleteQueueRecord deletes a record check-and-set on version. A record
// changed since gives an error wrapping ErrCASFailed.
func (s *Store) DeleteQueueRecord(ctx context.Context, k QueueKey, version uint64) error {
	_, err := s.kv.Txn(ctx, []Op{{Verb: OpDeleteCAS, Key: k.key, Index: version}})
	return err
}
