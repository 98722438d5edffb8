package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// listAudit lists audit entries, newest first: every entry for an admin,
// those about their own clients' objects for a client user. Filters:
// user (id or name), client, kind, object, action, since and until
// (RFC 3339).
func (s *Server) listAudit(c *fiber.Ctx) error {
	offset, limit, err := page(c)
	if err != nil {
		return err
	}
	f := store.AuditFilter{
		ClientID: c.Query("client"),
		Kind:     c.Query("kind"),
		ObjectID: c.Query("object"),
		Action:   c.Query("action"),
		Offset:   offset,
		Limit:    limit,
	}
	if u := c.Query("user"); domain.ValidID(u) {
		f.UserID = u
	} else {
		f.UserName = u
	}
	for _, q := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := c.Query(q.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return domain.Invalid(q.name, "must be a time in RFC 3339 form, such as 2026-01-02T15:04:05Z")
			}
			*q.to = t
		}
	}
	p, err := s.ctl.Audit.List(c.UserContext(), actor(c), f)
	if err != nil {
		return err
	}
	return c.JSON(List[domain.AuditEntry]{Items: p.Items, Total: p.Total, Offset: offset, Limit: limit})
}
