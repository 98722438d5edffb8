package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/aegirhq/aegir/internal/domain"
)

// latestBackup is the -backup value of site restore that names the site's
// newest backup.
const latestBackup = "latest"

// newestBackup returns site s's newest backup (the API lists them newest
// first).
func newestBackup(ctx context.Context, c *api, s *domain.Site) (*domain.Backup, error) {
	var p page[domain.Backup]
	if _, err := c.get(ctx, c.path("sites", s.ID, "backups"), url.Values{"limit": {"1"}}, &p); err != nil {
		return nil, err
	}
	if len(p.Items) == 0 {
		return nil, &APIError{Status: http.StatusNotFound, Code: "not_found",
			Message: fmt.Sprintf("site %s has no backups; make one with 'aegir site backup %s -wait'", s.Domain, s.Domain)}
	}
	return &p.Items[0], nil
}
