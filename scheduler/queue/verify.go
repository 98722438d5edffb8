package queue

import (
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// The verify-backup queue: each pass restores the newest backup of a
// sample of the sites that have one into a throwaway site (the
// verify-backup task, internal/provision/verifybackup.go), checks that it
// answers and that its files and data match the backup, and removes it.
// A site whose backup does not restore fails its run, is backed off like
// any failing site, and is listed on the queue's overview.
//
// The sample: a pass takes the frequency's share of the sites with a
// backup (ceil(sites × interval / frequency)), capped at SamplePercent of
// them and at least one, oldest verification first. With the defaults
// (weekly, a pass a day, 1 %) a fleet of 10,000 sites verifies 100 backups
// a day, each site about every 100 days; a fleet of 50 verifies one a day.
// Backlog says how many sites are overdue.

// DefaultSamplePercent is the verify-backup queue's default sample.
const DefaultSamplePercent = 1

// SampleSize is how many sites one verify-backup pass takes at most:
// SamplePercent of eligible, rounded up, and at least one when any is
// eligible.
func SampleSize(eligible int, s Settings) int {
	if eligible == 0 {
		return 0
	}
	return max(1, (eligible*s.SamplePercent+99)/100)
}

// withBackups keeps the sites that have at least one backup.
func withBackups(sites []SiteState, backups map[string][]domain.Backup) []SiteState {
	out := sites[:0:0]
	for _, st := range sites {
		if len(backups[st.ID]) > 0 {
			out = append(out, st)
		}
	}
	return out
}

// newestBackup returns the id of the newest of backups (ids break ties,
// they sort by creation), or "" when there is none.
func newestBackup(backups []domain.Backup) string {
	var best *domain.Backup
	for i := range backups {
		b := &backups[i]
		if best == nil || b.CreatedAt.After(best.CreatedAt) || b.CreatedAt.Equal(best.CreatedAt) && strings.Compare(b.ID, best.ID) > 0 {
			best = b
		}
	}
	if best == nil {
		return ""
	}
	return best.ID
}
