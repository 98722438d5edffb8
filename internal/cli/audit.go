package cli

import (
	"context"
	"flag"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// The audit noun joins the command table at init.
func init() { nouns = append(nouns, auditNoun) }

var auditNoun = &noun{
	name:    "audit",
	summary: "Read the audit log: who changed what, when and from where (admins: everything; client users: their clients' objects).",
	verbs: []*verb{
		{name: "list", args: "[flags]", summary: "List audit entries, newest first, with filters.", run: auditResource.list,
			examples: []string{"aegir audit list", "aegir audit list -user alice -since 24h", "aegir audit list -client acme -kind site -json"}},
	},
}

var auditResource = &resource[domain.AuditEntry]{
	noun: "audit entry", collection: "audit",
	filters: auditFilters, flagItems: "entries",
	header: []string{"TIME", "USER", "ADDRESS", "ACTION", "OBJECT", "FIELDS"},
	rows: plainRows(func(e *domain.AuditEntry) []string {
		obj := strings.TrimSpace(e.Kind + " " + e.ObjectID)
		var fields []string
		for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
			fields = append(fields, k+"="+e.Fields[k])
		}
		return []string{when(e.Time), e.UserName, e.Address, e.Action, obj, strings.Join(fields, " ")}
	}),
}

func auditFilters(fs *flag.FlagSet) func(context.Context, *api, *listRequest) error {
	user := fs.String("user", "", "only entries of this user (name or id)")
	client := fs.String("client", "", "only entries about this client's objects (name or id)")
	kind := fs.String("kind", "", "only entries about this kind of object: site, platform, server, service, client, user, token, task, backup")
	object := fs.String("object", "", "only entries about the object with this id")
	action := fs.String("action", "", "only this action: create, update, delete, request_task, login, login_failed, logout ...")
	since := fs.String("since", "", "only entries from this time on: RFC 3339 (2026-01-02T15:04:05Z) or a duration ago (24h)")
	until := fs.String("until", "", "only entries before this time: RFC 3339 or a duration ago")
	return func(ctx context.Context, c *api, l *listRequest) error {
		setIf(l.q, "user", *user)
		setIf(l.q, "kind", *kind)
		setIf(l.q, "object", *object)
		setIf(l.q, "action", *action)
		if *client != "" {
			id, err := clientResource.idOf(ctx, c, *client)
			if err != nil {
				return err
			}
			l.q.Set("client", id)
		}
		for _, t := range []struct{ flag, key, v string }{{"since", "since", *since}, {"until", "until", *until}} {
			if t.v == "" {
				continue
			}
			at, err := auditTime(t.v)
			if err != nil {
				return usagef("-%s %q: want an RFC 3339 time or a duration such as 24h", t.flag, t.v)
			}
			l.q.Set(t.key, at)
		}
		return nil
	}
}

// auditTime reads a time flag: RFC 3339, or a duration before now.
func auditTime(v string) (string, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d).UTC().Format(time.RFC3339), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return "", err
	}
	return t.UTC().Format(time.RFC3339), nil
}
