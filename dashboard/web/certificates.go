package web

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// localCARoot sends the local CA's root certificate for download.
func (u *ui) localCARoot(c *fiber.Ctx) error {
	if u.localCA == nil {
		return c.Status(fiber.StatusNotFound).SendString("This aegir has no local CA (tls issuer is not local).\n")
	}
	pem, err := u.localCA(c.UserContext())
	if err != nil {
		u.log.Error("read the local CA's root", "err", err)
		return c.Status(fiber.StatusServiceUnavailable).SendString("The local CA's root could not be read; see aegir's log.\n")
	}
	c.Set("Content-Type", "application/x-pem-file")
	c.Set("Content-Disposition", `attachment; filename="aegir-local-ca.pem"`)
	return c.Send(pem)
}

// certWarnWithin is how close to expiry a certificate shows on the
// overview.
const certWarnWithin = 14 * 24 * time.Hour

// certIssue is a site whose certificate needs attention.
type certIssue struct {
	Site    domain.Site
	Expired bool
}

// maxCertIssues bounds the overview's list.
const maxCertIssues = 20

// certIssues lists the actor's sites with HTTPS whose certificate is
// expired, expires within certWarnWithin, or failed its last issuance.
func (u *ui) certIssues(ctx context.Context, c *fiber.Ctx, now time.Time) ([]certIssue, int, error) {
	var out []certIssue
	total := 0
	for off := 0; ; {
		page, err := u.ctl.Sites.List(ctx, actor(c), store.SiteFilter{Offset: off, Limit: 1000})
		if err != nil {
			return nil, 0, err
		}
		for _, s := range page.Items {
			if !s.HTTPS.Enabled() {
				continue
			}
			c := s.Certificate
			expired := c == nil || !c.Valid(now)
			if expired || c.Error != "" || now.Add(certWarnWithin).After(c.NotAfter) {
				total++
				if len(out) < maxCertIssues {
					out = append(out, certIssue{Site: s, Expired: expired})
				}
			}
		}
		off += len(page.Items)
		if len(page.Items) == 0 || off >= page.Total {
			return out, total, nil
		}
	}
}
