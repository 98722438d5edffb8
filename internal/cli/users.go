package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

var userNoun = &noun{
	name:    "user",
	summary: "Manage users: admins, and client users who see only their clients' sites.",
	verbs: []*verb{
		{name: "list", args: "[flags]", summary: "List users.", run: userResource.list,
			examples: []string{"aegir user list"}},
		{name: "create", args: "NAME -role admin|client|queue [-client C]... [-email E] [-password-stdin]", summary: "Create a user; give them a token with 'aegir token create -user NAME'. A queue user's tokens may only start and follow queue passes (for queue jobs run by hand).", run: userCreate,
			examples: []string{"aegir user create alice -role admin", "aegir user create bob -role client -client acme -client globex", "aegir user create my-queues -role queue", "printf '%s' \"$PASS\" | aegir user create carol -role admin -password-stdin"}},
		{name: "delete", args: "NAME|ID [-yes]", summary: "Delete a user and their tokens (asks to type the name, or -yes).", run: userResource.remove("delete the user %s"),
			examples: []string{"aegir user delete bob -yes"}},
	},
}

var tokenNoun = &noun{
	name:    "token",
	summary: "Manage API tokens: your own, or (as admin) another user's.",
	verbs: []*verb{
		{name: "list", args: "[flags]", summary: "List tokens.", run: tokenResource.list,
			examples: []string{"aegir token list"}},
		{name: "create", args: "[-name N] [-user U] [-ttl D]", summary: "Create a token; its secret is shown this once.", run: tokenCreate,
			examples: []string{"aegir token create -name laptop", "export AEGIR_TOKEN=$(aegir token create -name ci -user bob -q)"}},
		{name: "delete", args: "ID", summary: "Revoke a token.", run: tokenDelete,
			examples: []string{"aegir token delete 01hx2y3z4a5b6c7d8e9f"}},
	},
}

var userResource = &resource[domain.User]{
	noun: "user", collection: "users",
	ref:    func(u *domain.User) entityRef { return entityRef{u.Name, u.ID, u.Version} },
	header: []string{"ID", "NAME", "ROLE", "CLIENTS", "EMAIL", "CREATED"},
	rows: func(ctx context.Context, c *api) func(*domain.User) []string {
		clients := clientResource.names(ctx, c)
		return func(u *domain.User) []string {
			var cl []string
			for _, id := range u.ClientIDs {
				cl = append(cl, clients.of(id))
			}
			return []string{u.ID, u.Name, string(u.Role), strings.Join(cl, ","), u.Email, when(u.CreatedAt)}
		}
	},
}

func userCreate(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	role := fs.String("role", "", "admin, client or queue (required)")
	var clientRefs stringList
	fs.Var(&clientRefs, "client", "a client the user belongs to (name or id); repeatable; for -role client")
	email := fs.String("email", "", "the user's email address")
	passwordStdin := fs.Bool("password-stdin", false, "read a dashboard password for the user from stdin (prompted for without echo on a terminal); without it the user logs in only once an admin sets one")
	asJSON := jsonFlag(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	switch domain.Role(*role) {
	case domain.RoleAdmin:
		if len(clientRefs) > 0 {
			return usagef("an admin sees every client; -client is for -role client")
		}
	case domain.RoleClient:
		if len(clientRefs) == 0 {
			return usagef("a client user needs at least one -client")
		}
	case domain.RoleQueue:
		if len(clientRefs) > 0 {
			return usagef("a queue user belongs to no client; -client is for -role client")
		}
	case "":
		return usagef("user create needs -role admin, -role client or -role queue")
	default:
		return usagef("unknown -role %q; use admin, client or queue", *role)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	password := ""
	if *passwordStdin {
		if password, err = a.readSecret(fmt.Sprintf("Dashboard password of %s: ", pos[0])); err != nil {
			return err
		}
	}
	ids := []string{}
	for _, ref := range clientRefs {
		id, err := clientResource.idOf(ctx, c, ref)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	body := map[string]any{"name": pos[0], "role": *role, "client_ids": ids}
	if *email != "" {
		body["email"] = *email
	}
	if password != "" {
		body["password"] = password
	}
	var u domain.User
	raw, err := c.post(ctx, c.path("users"), body, &u)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "User %s created (id %s). Give them a token with: aegir token create -user %s\n", sanitize(u.Name), u.ID, sanitize(u.Name))
	if password != "" {
		fmt.Fprintln(a.stdout, "They can log in to the dashboard with the password given.")
	}
	return nil
}

var tokenResource = &resource[domain.Token]{
	noun: "token", collection: "tokens",
	header: []string{"ID", "NAME", "USER", "CREATED", "EXPIRES", "LAST USED"},
	rows: plainRows(func(x *domain.Token) []string {
		return []string{x.ID, x.Name, x.UserID, when(x.CreatedAt), whenPtr(x.ExpiresAt), whenPtr(x.LastUsedAt)}
	}),
}

func tokenCreate(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	name := fs.String("name", "", "what the token is for (laptop, ci ...)")
	user := fs.String("user", "", "create it for this user (name or id; admins only; default: yourself)")
	ttl := fs.String("ttl", "", "the token expires after this long (e.g. 720h; default and maximum: the server's max_token_ttl, a year unless set)")
	quiet := fs.Bool("q", false, "print only the secret")
	asJSON := jsonFlag(fs)
	_, c, err := a.connect(fs, args, 0, 0)
	if err != nil {
		return err
	}
	body := map[string]any{}
	if *name != "" {
		body["name"] = *name
	}
	if *ttl != "" {
		if _, err := time.ParseDuration(*ttl); err != nil {
			return usagef("-ttl %q is not a duration like 720h", *ttl)
		}
		body["ttl"] = *ttl
	}
	if *user != "" {
		id, err := userResource.idOf(ctx, c, *user)
		if err != nil {
			return err
		}
		body["user_id"] = id
	}
	var out struct {
		Token  domain.Token `json:"token"`
		Secret string       `json:"secret"`
	}
	raw, err := c.post(ctx, c.path("tokens"), body, &out)
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return a.printJSON(raw)
	case *quiet:
		fmt.Fprintln(a.stdout, out.Secret)
	default:
		fmt.Fprintf(a.stdout, "Token %s created. Its secret is shown only this once:\n\n  %s\n\nUse it with: export AEGIR_TOKEN=<secret>\n", out.Token.ID, out.Secret)
	}
	return nil
}

func tokenDelete(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, http.MethodDelete, c.path("tokens", pos[0]), nil, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Token %s revoked.\n", pos[0])
	return nil
}
