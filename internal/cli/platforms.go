package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

var platformNoun = &noun{
	name:    "platform",
	summary: "Manage platforms: a codebase (" + domain.PlatformTypeChoices() + ") at a path on a web server.",
	verbs: []*verb{
		{name: "list", args: "[flags]", summary: "List platforms.", run: platformResource.list,
			examples: []string{"aegir platform list", "aegir platform list -json"}},
		{name: "show", args: "NAME|ID", summary: "Show a platform.", run: platformResource.show,
			examples: []string{"aegir platform show drupal10"}},
		{name: "create", args: "NAME -path P -server S -type " + platformTypeAlternatives() + " [-wait]", summary: "Create a platform and queue its verify-platform task.", run: platformCreate,
			examples: []string{"aegir platform create drupal10 -path /var/aegir/platforms/drupal10 -server web1 -type drupal -wait"}},
		platformTaskVerb("verify", domain.TaskVerifyPlatform),
		platformTaskVerb("import", domain.TaskImport),
		platformTaskVerb("lock", domain.TaskLock),
		platformTaskVerb("unlock", domain.TaskUnlock),
		platformTaskVerb("delete", domain.TaskDeletePlatform),
		platformMigrateVerb,
	},
}

var platformResource = &resource[domain.Platform]{
	noun: "platform", collection: "platforms",
	ref:    func(p *domain.Platform) entityRef { return entityRef{p.Name, p.ID, p.Version} },
	header: []string{"ID", "NAME", "TYPE", "STATUS", "LOCKED", "SERVER", "PATH", "RELEASE"},
	rows: func(ctx context.Context, c *api) func(*domain.Platform) []string {
		servers := serverResource.names(ctx, c)
		return func(x *domain.Platform) []string {
			return []string{x.ID, x.Name, string(x.Type), string(x.Status), yesNo(x.Locked), servers.of(x.WebServerID), x.Path, x.Release}
		}
	},
	details: func(ctx context.Context, a *app, c *api, p *domain.Platform) error {
		return a.fields(
			"ID", p.ID,
			"Name", p.Name,
			"Type", string(p.Type),
			"Path", p.Path,
			"Web server", serverResource.label(ctx, c, p.WebServerID),
			"Status", string(p.Status),
			"Locked", yesNo(p.Locked),
			"Release", p.Release,
			"Created", when(p.CreatedAt),
			"Updated", when(p.UpdatedAt),
		)
	},
}

func platformCreate(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	path := fs.String("path", "", "absolute path of the codebase on the web server (required)")
	server := fs.String("server", "", "the web server (name or id; required)")
	typ := fs.String("type", "", domain.PlatformTypeChoices()+" (required)")
	tf := taskFlags(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *path == "" || *server == "" || *typ == "" {
		return usagef("platform create needs -path, -server and -type")
	}
	if !domain.PlatformType(*typ).Known() {
		return usagef("unknown -type %q; use %s", *typ, domain.PlatformTypeChoices())
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	body := map[string]any{"name": pos[0], "path": *path, "type": *typ}
	refField(body, "web_server", *server)
	var out struct {
		Platform *domain.Platform `json:"platform"`
		Task     *domain.Task     `json:"task"`
	}
	raw, err := c.post(ctx, c.path("platforms"), body, &out)
	if err != nil {
		return err
	}
	done := "Platform created."
	if out.Platform != nil {
		done = fmt.Sprintf("Platform %s created (id %s).", out.Platform.Name, out.Platform.ID)
	}
	return a.queued(ctx, c, tf, raw, out.Task, done)
}

// platformTaskVerb is a verb that queues a platform task. Its summary is
// the task's, and it asks to type the platform's name (or -yes) when the
// task's spec says to confirm it (delete-platform).
func platformTaskVerb(name string, typ domain.TaskType) *verb {
	spec := mustSpec(typ)
	destructive := spec.Form.Confirm
	summary := spec.Summary
	if destructive {
		summary = confirmSummary(spec, "its name")
	}
	v := &verb{name: name, args: "NAME|ID [-wait]", summary: summary,
		examples: []string{"aegir platform " + name + " drupal10"}}
	if typ == domain.TaskImport {
		v.args = "NAME|ID -client C -db-server S [-wait]"
		v.examples = []string{"aegir platform import drupal10 -client acme -db-server db1 -wait"}
	}
	if destructive {
		v.args = "NAME|ID [-yes] [-wait]"
		v.examples = append(v.examples, "aegir platform "+name+" drupal10 -yes -wait")
	}
	v.run = func(ctx context.Context, a *app, args []string) error {
		fs := a.flags()
		var yes *bool
		if destructive {
			yes = fs.Bool("yes", false, "do not ask for confirmation")
		}
		var client, dbServer *string
		if typ == domain.TaskImport {
			client = fs.String("client", "", "the client that will own the imported sites (name or id; required)")
			dbServer = fs.String("db-server", "", "the database server the imported sites use (name or id; required)")
		}
		tf := taskFlags(fs)
		pos, err := a.parse(fs, args, 1, 1)
		if err != nil {
			return err
		}
		if typ == domain.TaskImport && (*client == "" || *dbServer == "") {
			return usagef("platform import needs -client and -db-server")
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		p, _, err := platformResource.find(ctx, c, pos[0])
		if err != nil {
			return err
		}
		var targs map[string]string
		if typ == domain.TaskImport {
			targs, err = idsOf(ctx, c, refFlag{"client_id", *client, clientResource}, refFlag{"db_server_id", *dbServer, serverResource})
			if err != nil {
				return err
			}
		}
		if destructive {
			if err := a.confirm(*yes, "delete the platform "+p.Name+" at "+p.Path, p.Name); err != nil {
				return err
			}
		}
		apiType := string(typ)
		if typ == domain.TaskDeletePlatform {
			apiType = "delete" // the API maps it to delete-platform
		}
		return a.queueTask(ctx, c, tf, "platforms", p.ID, apiType, targs)
	}
	return v
}

// platformTypeAlternatives is "static|php|drupal". The names come from
// domain, not from the platform registry, which would link the back end's
// HCL parser into the client.
func platformTypeAlternatives() string {
	var b strings.Builder
	for i, t := range domain.PlatformTypes() {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(string(t))
	}
	return b.String()
}
