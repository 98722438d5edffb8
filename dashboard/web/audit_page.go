package web

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// auditView is the audit log page: every entry for an admin, those about
// their own clients' objects for a client user, newest first, filtered
// like GET /api/v1/audit.
type auditView struct {
	User, Client, Kind, Object, Action, Since, Until string
	Items                                            []auditRow
	Pager                                            pager
}

type auditRow struct {
	domain.AuditEntry
	FieldList string
}

func (u *ui) auditPage(c *fiber.Ctx, v *view) error {
	offset := uiOffset(c)
	d := auditView{User: c.Query("user"), Client: c.Query("client"), Kind: c.Query("kind"),
		Object: c.Query("object"), Action: c.Query("action"), Since: c.Query("since"), Until: c.Query("until")}
	f := store.AuditFilter{ClientID: d.Client, Kind: d.Kind, ObjectID: d.Object, Action: d.Action,
		Offset: offset, Limit: uiPageSize}
	if domain.ValidID(d.User) {
		f.UserID = d.User
	} else {
		f.UserName = d.User
	}
	for _, q := range []struct {
		name, v string
		to      *time.Time
	}{{"since", d.Since, &f.Since}, {"until", d.Until, &f.Until}} {
		if q.v == "" {
			continue
		}
		t, err := parseFormTime(q.v)
		if err != nil {
			return domain.Invalid(q.name, "must be a date (2026-01-02) or a time (2026-01-02T15:04)")
		}
		*q.to = t
	}
	p, err := u.ctl.Audit.List(c.UserContext(), actor(c), f)
	if err != nil {
		return err
	}
	for _, e := range p.Items {
		var fields []string
		for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
			fields = append(fields, k+"="+e.Fields[k])
		}
		d.Items = append(d.Items, auditRow{AuditEntry: e, FieldList: strings.Join(fields, " ")})
	}
	d.Pager = newPager(c, offset, len(p.Items), p.Total)
	v.Title, v.Nav = "Audit log", "audit"
	return u.render(c, "audit", v, d)
}

// parseFormTime reads a date or a time as an HTML date or datetime-local
// input sends it (UTC), or RFC 3339.
func parseFormTime(s string) (time.Time, error) {
	var err error
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}
