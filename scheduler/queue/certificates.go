package queue

import (
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// The certificates queue: each pass takes the sites with HTTPS whose
// certificate is missing, expires within the renew window, misses one of
// the site's names or failed last time, and runs a certificate task on
// each (internal/provision/certificates.go), spread and backed off like
// any queue. A site whose certificate is current is not eligible, so a
// pass over a healthy fleet queues nothing. A failed renewal leaves the
// site on its current certificate; after FailingAfter failures in a row
// the site is listed as failing on the queue's overview.

// dueCertificates keeps the sites whose certificate needs work at now.
func dueCertificates(sites []SiteState, byID map[string]*domain.Site, now time.Time, window time.Duration) []SiteState {
	out := sites[:0:0]
	for _, st := range sites {
		s := byID[st.ID]
		if s == nil || !s.HTTPS.Enabled() {
			continue
		}
		if c := s.Certificate; c.Due(now, window, s.Names()) || c.Error != "" {
			out = append(out, st)
		}
	}
	return out
}
