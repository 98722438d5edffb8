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
		{name: "list", args: "[flags]", summary: "List clients.", run: clientResource.list,
			examples: []string{"aegir client list"}},
		{name: "show", args: "NAME|ID", summary: "Show a client.", run: clientResource.show,
			examples: []string{"aegir client show acme"}},
		{name: "create", args: "NAME [-title T] [-email E]", summary: "Create a client.", run: clientCreate,
			examples: []string{"aegir client create acme -title 'Acme Inc.' -email ops@acme.example"}},
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
		return a.fields("ID", x.ID, "Name", x.Name, "Title", x.Title, "Email", x.Email,
			"Created", when(x.CreatedAt), "Updated", when(x.UpdatedAt))
	},
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
