package cli

import (
	"context"
	"fmt"

	"github.com/aegirhq/aegir/internal/domain"
)

var clientNoun = &noun{
	name:    "client",
	summary: "Manage clients: who sites belong to, and what client users may see.",
	verbs: []*verb{
		{name: "list", args: "[flags]", summary: "List clients.", run: clientList,
			examples: []string{"aegir client list"}},
		{name: "show", args: "NAME|ID", summary: "Show a client.", run: clientShow,
			examples: []string{"aegir client show acme"}},
		{name: "create", args: "NAME [-title T] [-email E]", summary: "Create a client.", run: clientCreate,
			examples: []string{"aegir client create acme -title 'Acme Inc.' -email ops@acme.example"}},
		{name: "delete", args: "NAME|ID [-yes]", summary: "Delete a client that owns no sites (asks to type its name, or -yes).", run: deleteCommand("client", "clients", "delete the client %s", func(ctx context.Context, c *api, ref string) (entityRef, error) {
			x, _, err := c.findClient(ctx, ref)
			if err != nil {
				return entityRef{}, err
			}
			return entityRef{x.Name, x.ID, x.Version}, nil
		}),
			examples: []string{"aegir client delete acme -yes"}},
	},
}

func clientList(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	lf := listFlags(fs)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var p page[domain.Client]
	raw, err := c.get(ctx, c.path("clients"), lf.query(), &p)
	if err != nil {
		return err
	}
	if *lf.asJSON {
		return a.printJSON(raw)
	}
	t := newTable(a.stdout, "ID", "NAME", "TITLE", "EMAIL", "CREATED")
	for _, x := range p.Items {
		t.row(x.ID, x.Name, x.Title, x.Email, when(x.CreatedAt))
	}
	if err := t.flush(); err != nil {
		return err
	}
	a.more(p.Offset, len(p.Items), p.Total, "client")
	return nil
}

func clientShow(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	asJSON := fs.Bool("json", false, "print the API's JSON")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	x, raw, err := c.findClient(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	return a.fields("ID", x.ID, "Name", x.Name, "Title", x.Title, "Email", x.Email,
		"Created", when(x.CreatedAt), "Updated", when(x.UpdatedAt))
}

func clientCreate(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	title := fs.String("title", "", "display name")
	email := fs.String("email", "", "contact address")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.client()
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
