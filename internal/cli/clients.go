package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

var clientNoun = &noun{
	name:    "client",
	summary: "Manage clients: who sites belong to, and what client users may see.",
	verbs: []*verb{
		{name: "list", args: "[flags]", summary: "List clients.", run: clientResource.list,
			examples: []string{"aegir client list"}},
		{name: "show", args: "NAME|ID", summary: "Show a client.", run: clientResource.show,
			examples: []string{"aegir client show acme"}},
		{name: "create", args: "NAME [-title T] [-email E]", summary: "Create a client.", run: clientCreate,
			examples: []string{"aegir client create acme -title 'Acme Inc.' -email ops@acme.example"}},
		{name: "edit", args: "NAME|ID [-title T] [-email E] [-name NEW] [-quota NAME=LIMIT ...]", summary: "Change a client; -quota sets one of its quotas (tasks, backups, sites, disk; 0 or unlimited: no limit; default: the server's default again). Admins.", run: clientEdit,
			examples: []string{"aegir client edit acme -quota sites=10 -quota disk=20G", "aegir client edit acme -quota tasks=default"}},
		{name: "defaults", args: "[-quota NAME=LIMIT ...]", summary: "Show every client's default quotas or, with -quota, set them over the configuration's (default: the configuration's again). Admins.", run: clientDefaults,
			examples: []string{"aegir client defaults", "aegir client defaults -quota tasks=10 -quota disk=50G"}},
		{name: "delete", args: "NAME|ID [-yes]", summary: "Delete a client that owns no sites (asks to type its name, or -yes).", run: clientResource.remove("delete the client %s"),
			examples: []string{"aegir client delete acme -yes"}},
	},
}

var clientResource = &resource[domain.Client]{
	noun: "client", collection: "clients",
	ref:    func(x *domain.Client) entityRef { return entityRef{x.Name, x.ID, x.Version} },
	header: []string{"ID", "NAME", "TITLE", "EMAIL", "CREATED"},
	rows: plainRows(func(x *domain.Client) []string {
		return []string{x.ID, x.Name, x.Title, x.Email, when(x.CreatedAt)}
	}),
	details: func(ctx context.Context, a *app, c *api, x *domain.Client) error {
		kv := []string{"ID", x.ID, "Name", x.Name, "Title", x.Title, "Email", x.Email,
			"Created", when(x.CreatedAt), "Updated", when(x.UpdatedAt)}
		var q apiv1.ClientQuota
		_, err := c.get(ctx, c.path("clients", x.ID, "quota"), nil, &q)
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			// A server from before quotas: show the rest.
			return a.fields(kv...)
		}
		if err != nil {
			return err
		}
		for _, n := range domain.QuotaNames {
			kv = append(kv, "Quota "+n, quotaLine(n, q))
		}
		return a.fields(kv...)
	},
}

// quotaLine says how much of quota n the client holds, of what limit, and
// where the limit comes from: "2 of 10 (own)", "1 of 20 (default)",
// "3 (no limit)".
func quotaLine(n string, q apiv1.ClientQuota) string {
	used := domain.FormatQuota(n, q.Usage[n])
	if n == domain.QuotaDisk {
		used = humanSize(q.Usage[n]) // a measure, not a limit to type back
	}
	from := "default"
	if _, own := q.Overrides[n]; own {
		from = "own"
	}
	if q.Limits[n] == 0 {
		return fmt.Sprintf("%s (no limit, %s)", used, from)
	}
	return fmt.Sprintf("%s of %s (%s)", used, domain.FormatQuota(n, q.Limits[n]), from)
}

// clientEdit changes the fields given as flags and the quotas named by
// -quota, leaving the rest as the API sent it.
func clientEdit(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	fs.String("title", "", "display name")
	fs.String("email", "", "contact address")
	fs.String("name", "", "a new name for the client")
	var quotas stringList
	fs.Var(&quotas, "quota", "NAME=LIMIT: tasks, backups, sites or disk (a size such as 10G); 0 or unlimited for no limit, default for the server's default (repeatable)")
	asJSON := jsonFlag(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	change := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "title", "email", "name":
			change[f.Name] = f.Value.String()
		}
	})
	set, unset, err := parseQuotaFlags(quotas)
	if err != nil {
		return err
	}
	if len(change) == 0 && len(set) == 0 && len(unset) == 0 {
		return usagef("nothing to change: give -title, -email, -name or -quota NAME=LIMIT")
	}
	if v, ok := change["name"]; ok && v == "" {
		return usagef("-name must not be empty")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	cl, raw, err := clientResource.find(ctx, c, pos[0])
	if err != nil {
		return err
	}
	body, err := withChanges(raw, change)
	if err != nil {
		return err
	}
	body["quotas"] = mergeQuotas(cl.Quotas, set, unset)
	var out domain.Client
	raw, err = c.do(ctx, http.MethodPut, c.path("clients", cl.ID), nil, body, &out)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "Client %s updated.\n", sanitize(out.Name))
	return nil
}

func clientCreate(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	title := fs.String("title", "", "display name")
	email := fs.String("email", "", "contact address")
	asJSON := jsonFlag(fs)
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	body := map[string]any{"name": pos[0]}
	if *title != "" {
		body["title"] = *title
	}
	if *email != "" {
		body["email"] = *email
	}
	var x domain.Client
	raw, err := c.post(ctx, c.path("clients"), body, &x)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "Client %s created (id %s).\n", sanitize(x.Name), x.ID)
	return nil
}

// parseQuotaFlags reads -quota NAME=LIMIT flags: the limits to set, and
// the quotas given as "default" (to take the default again).
func parseQuotaFlags(quotas []string) (set domain.Quotas, unset map[string]bool, err error) {
	set, unset = domain.Quotas{}, map[string]bool{}
	for _, kv := range quotas {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, nil, usagef("-quota %q: give NAME=LIMIT, such as sites=10", kv)
		}
		if strings.TrimSpace(v) == "default" {
			if !slices.Contains(domain.QuotaNames, k) {
				return nil, nil, usagef("-quota %q: %s is not a quota; use one of %s", kv, k, strings.Join(domain.QuotaNames, ", "))
			}
			unset[k] = true
			continue
		}
		n, err := domain.ParseQuota(k, v)
		if err != nil {
			return nil, nil, usagef("-quota %q: %v", kv, err)
		}
		set[k] = n
	}
	return set, unset, nil
}

// mergeQuotas returns old with set laid over it and unset removed.
func mergeQuotas(old, set domain.Quotas, unset map[string]bool) domain.Quotas {
	q := domain.Quotas{}
	for k, v := range old {
		if !unset[k] {
			q[k] = v
		}
	}
	for k, v := range set {
		q[k] = v
	}
	return q
}

// clientDefaults shows the quota defaults or, with -quota, changes them.
func clientDefaults(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	var quotas stringList
	fs.Var(&quotas, "quota", "NAME=LIMIT: tasks, backups, sites or disk (a size such as 10G); 0 or unlimited for no limit, default for the configuration's (repeatable)")
	asJSON := jsonFlag(fs)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	set, unset, err := parseQuotaFlags(quotas)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var d apiv1.QuotaDefaults
	raw, err := c.get(ctx, c.path("quota-defaults"), nil, &d)
	if err != nil {
		return err
	}
	if len(set) > 0 || len(unset) > 0 {
		body := apiv1.QuotaDefaultsUpdate{Overrides: mergeQuotas(d.Overrides, set, unset), Version: d.Version}
		if raw, err = c.do(ctx, http.MethodPut, c.path("quota-defaults"), nil, body, &d); err != nil {
			return err
		}
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	var kv []string
	for _, n := range domain.QuotaNames {
		from := "configuration"
		if _, ok := d.Overrides[n]; ok {
			from = "set by an admin"
		}
		lim := "no limit"
		if d.Defaults[n] != 0 {
			lim = domain.FormatQuota(n, d.Defaults[n])
		}
		kv = append(kv, "Quota "+n, lim+" ("+from+")")
	}
	return a.fields(kv...)
}
