package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

var siteNoun = &noun{
	name:    "site",
	summary: "Manage sites: a domain with aliases, served by a platform, with a database on a db server, owned by a client.",
	verbs: []*verb{
		{name: "list", args: "[flags]", summary: "List sites.", run: siteResource.list,
			examples: []string{"aegir site list", "aegir site list -q example -status enabled", "aegir site list -platform drupal10 -json"}},
		{name: "show", args: "ID|DOMAIN", summary: "Show a site.", run: siteResource.show,
			examples: []string{"aegir site show example.com"}},
		{name: "create", args: "DOMAIN -platform P -db-server S -client C [flags] | [DOMAIN] -from-backup ID -platform P -db-server S", summary: "Create a site and queue its install task; with -from-backup, bring a deleted site back from one of its backups.", run: siteCreate,
			examples: []string{
				"aegir site create example.com -platform drupal10 -db-server db1 -client acme",
				"aegir site create example.com -platform drupal10 -db-server db1 -client acme -alias www.example.com -redirect-aliases -wait",
				"aegir backup list -site example.com",
				"aegir site create -from-backup 01hx2y3z4a5b6c7d8e9f -platform drupal10 -db-server db1 -wait",
			}},
		{name: "import", args: "FILE -platform P -db-server S [-domain D] [-client C] [-wait]", summary: "Make a site from a backup archive (a .tar.zst aegir wrote, here or elsewhere): uploaded, checked, then installed from it.", run: siteImport,
			examples: []string{
				"aegir site import example.com.tar.zst -platform drupal10 -db-server db1 -client acme -wait",
				"aegir site import backup.tar.zst -domain copy.example.com -platform drupal10 -db-server db1",
			}},
		{name: "edit", args: "ID|DOMAIN [flags]", summary: "Change a site's aliases, alias redirection, php-fpm limits or HTTPS; queues a verify task.", run: siteEdit,
			examples: []string{
				"aegir site edit example.com -alias www.example.com -alias example.org",
				"aegir site edit example.com -add-alias shop.example.com -redirect-aliases=false",
				"aegir site edit example.com -no-aliases",
				"aegir site edit example.com -php memory_limit=512M,upload_max=128M -php max_children=10",
				"aegir site edit example.com -php memory_limit=default",
				"aegir site edit example.com -https redirect -hsts",
			}},
		{name: "delete", args: "ID|DOMAIN [-yes] [-wait]", summary: confirmSummary(mustSpec(domain.TaskDelete), "the domain"), run: siteDelete,
			examples: []string{"aegir site delete example.com", "aegir site delete example.com -yes -wait"}},
		siteTaskVerb(domain.TaskBackup, "aegir site backup example.com -wait"),
		{name: "restore", args: "ID|DOMAIN -backup BACKUP_ID|latest [-yes] [-wait]", summary: confirmSummary(mustSpec(domain.TaskRestore), "the domain"), run: siteRestore,
			examples: []string{"aegir site backups example.com", "aegir site restore example.com -backup 01hx2y3z4a5b6c7d8e9f -yes -wait", "aegir site restore example.com -backup latest -yes"}},
		siteTaskVerb(domain.TaskDisable, "aegir site disable example.com"),
		siteTaskVerb(domain.TaskEnable, "aegir site enable example.com"),
		siteTaskVerb(domain.TaskVerify, "aegir site verify example.com -wait"),
		siteTaskVerb(domain.TaskCertificate, "aegir site certificate example.com -wait"),
		{name: "upload-certificate", args: "ID|DOMAIN -cert FILE -key FILE [-wait]", summary: "Upload the site's certificate (chain, leaf first, and key, PEM); checked, then served by a verify task.", run: siteUploadCertificate,
			examples: []string{"aegir site upload-certificate example.com -cert fullchain.pem -key privkey.pem -wait"}},
		{name: "clone", args: "ID|DOMAIN -domain NEW [-platform P] [-db-server S] [-wait]", summary: mustSpec(domain.TaskClone).Summary, run: siteClone,
			examples: []string{"aegir site clone example.com -domain staging.example.com", "aegir site clone example.com -domain test.example.com -platform drupal11"}},
		{name: "migrate", args: "ID|DOMAIN [-domain NEW] [-platform P] [-db-server S] [-yes] [-wait]", summary: askSummary(mustSpec(domain.TaskMigrate)), run: siteMigrate,
			examples: []string{"aegir site migrate example.com -platform drupal10-2 -wait", "aegir site migrate example.com -domain example.org"}},
		{name: "backups", args: "ID|DOMAIN", summary: "List a site's backups.", run: siteBackups,
			examples: []string{"aegir site backups example.com"}},
	},
}

var siteResource = &resource[domain.Site]{
	noun: "site", collection: "sites", byPath: true,
	ref:     func(s *domain.Site) entityRef { return entityRef{s.Domain, s.ID, s.Version} },
	filters: siteFilters, flagItems: "sites",
	header: []string{"ID", "DOMAIN", "STATUS", "PLATFORM", "CLIENT", "ALIASES"},
	rows: func(ctx context.Context, c *api) func(*domain.Site) []string {
		platforms, clients := platformResource.names(ctx, c), clientResource.names(ctx, c)
		return func(s *domain.Site) []string {
			return []string{s.ID, s.Domain, string(s.Status), platforms.of(s.PlatformID), clients.of(s.ClientID), strings.Join(s.Aliases, ",")}
		}
	},
	details: siteDetails,
}

func siteFilters(fs *flag.FlagSet) func(context.Context, *api, *listRequest) error {
	q := fs.String("q", "", "only sites whose domain or an alias contains this")
	status := fs.String("status", "", "only sites in this status: pending, enabled, disabled, failed, deleted")
	platform := fs.String("platform", "", "only sites on this platform (name or id)")
	client := fs.String("client", "", "only sites of this client (name or id)")
	server := fs.String("server", "", "only sites on this server (name or id)")
	return func(ctx context.Context, c *api, l *listRequest) error {
		setIf(l.q, "q", *q)
		setIf(l.q, "status", *status)
		ids, err := idsOf(ctx, c,
			refFlag{"platform_id", *platform, platformResource},
			refFlag{"client_id", *client, clientResource},
			refFlag{"server_id", *server, serverResource})
		if err != nil {
			return err
		}
		for k, id := range ids {
			l.q.Set(k, id)
		}
		return nil
	}
}

func siteDetails(ctx context.Context, a *app, c *api, s *domain.Site) error {
	return a.fields(
		"ID", s.ID,
		"Domain", s.Domain,
		"Aliases", strings.Join(s.Aliases, ", "),
		"Redirect aliases", yesNo(s.RedirectAliases),
		"Status", string(s.Status),
		"Platform", platformResource.label(ctx, c, s.PlatformID),
		"DB server", serverResource.label(ctx, c, s.DBServerID),
		"Client", clientResource.label(ctx, c, s.ClientID),
		"Profile", s.Profile,
		"PHP limits", phpSummary(s.PHP),
		"HTTPS", httpsLabel(s),
		"Certificate", certLabel(s.Certificate),
		"Created", when(s.CreatedAt),
		"Updated", when(s.UpdatedAt),
		"Version", strconv.FormatUint(s.Version, 10),
	)
}

// refField sets "<key>_id" when ref is an id and "<key>" (a name the API
// looks up) otherwise.
func refField(body map[string]any, key, ref string) {
	if domain.ValidID(ref) {
		body[key+"_id"] = ref
	} else {
		body[key] = ref
	}
}

// siteAnswer is the answer of a site create or update: the site and the
// task queued with it.
type siteAnswer struct {
	Site *domain.Site `json:"site"`
	Task *domain.Task `json:"task"`
}

func siteCreate(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	platform := fs.String("platform", "", "the platform that serves the site (name or id; required)")
	dbServer := fs.String("db-server", "", "the server whose database service holds its data (name or id; required)")
	client := fs.String("client", "", "the client that owns the site (name or id; required when there is more than one)")
	var aliases stringList
	fs.Var(&aliases, "alias", "another host name for the site; repeat or separate with commas")
	redirect := fs.Bool("redirect-aliases", false, "aliases answer with a redirect to the main domain")
	profile := fs.String("profile", "", "install profile (drupal platforms)")
	var php phpFlag
	fs.Var(&php, "php", phpFlagUsage)
	fromBackup := fs.String("from-backup", "", "bring a deleted site back from this backup (its id; aegir backup list): its domain and client unless given")
	https := fs.String("https", "", "off, on (HTTP and HTTPS) or redirect (HTTP answers 301 to HTTPS)")
	hsts := fs.Bool("hsts", false, "send Strict-Transport-Security on HTTPS answers (needs -https on or redirect)")
	tf := taskFlags(fs)
	// With -from-backup the domain is the backup's unless given.
	least := 1
	if slices.ContainsFunc(args, func(s string) bool {
		name, _, _ := strings.Cut(strings.TrimLeft(s, "-"), "=")
		return strings.HasPrefix(s, "-") && name == "from-backup"
	}) {
		least = 0
	}
	pos, err := a.parse(fs, args, least, 1)
	if err != nil {
		return err
	}
	var missing []string
	// -client may be left out: the API takes the only client there is
	// (or a client user's only one), or the backup's with -from-backup.
	for _, f := range []struct{ name, v string }{{"-platform", *platform}, {"-db-server", *dbServer}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usagef("site create needs %s", strings.Join(missing, ", "))
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	body := map[string]any{
		"aliases":          []string(append(stringList{}, aliases...)),
		"redirect_aliases": *redirect,
	}
	if len(pos) > 0 {
		body["domain"] = pos[0]
	}
	if *fromBackup != "" {
		body["from_backup"] = *fromBackup
	}
	refField(body, "platform", *platform)
	refField(body, "db_server", *dbServer)
	if *client != "" { // else the only client, or the backup's (-from-backup)
		refField(body, "client", *client)
	}
	if *profile != "" {
		body["profile"] = *profile
	}
	if p := php.apply(nil); p != nil {
		body["php"] = p
	}
	if *https != "" {
		body["https"] = *https
	}
	if *hsts {
		body["hsts"] = true
	}
	var out siteAnswer
	raw, err := c.post(ctx, c.path("sites"), body, &out)
	if err != nil {
		return refTypo(ctx, c, err, refFlag{"platform", *platform, platformResource},
			refFlag{"db_server", *dbServer, serverResource}, refFlag{"client", *client, clientResource})
	}
	done := "Site created."
	if out.Site != nil {
		done = fmt.Sprintf("Site %s created (id %s).", out.Site.Domain, out.Site.ID)
	}
	return a.queued(ctx, c, tf, raw, out.Task, done)
}

// siteImport uploads a backup archive to POST /sites/import.
func siteImport(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	platform := fs.String("platform", "", "the platform that serves the site (name or id; required)")
	dbServer := fs.String("db-server", "", "the server whose database service holds its data (name or id; required)")
	client := fs.String("client", "", "the client that owns the site (name or id)")
	domainName := fs.String("domain", "", "the site's domain; the archive's if empty")
	tf := taskFlags(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *platform == "" || *dbServer == "" {
		return usagef("site import needs -platform and -db-server")
	}
	if _, err := os.Stat(pos[0]); err != nil {
		return usagef("site import: %v", err)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	for _, f := range []struct{ key, v string }{{"platform", *platform}, {"db_server", *dbServer}, {"client", *client}} {
		if f.v != "" {
			key := f.key
			if domain.ValidID(f.v) {
				key += "_id"
			}
			q.Set(key, f.v)
		}
	}
	if *domainName != "" {
		q.Set("domain", *domainName)
	}
	var out siteAnswer
	raw, err := c.upload(ctx, c.path("sites", "import"), q, pos[0], &out)
	if err != nil {
		return refTypo(ctx, c, err, refFlag{"platform", *platform, platformResource},
			refFlag{"db_server", *dbServer, serverResource}, refFlag{"client", *client, clientResource})
	}
	done := "Site imported."
	if out.Site != nil {
		done = fmt.Sprintf("Site %s imported from %s (id %s).", out.Site.Domain, pos[0], out.Site.ID)
	}
	return a.queued(ctx, c, tf, raw, out.Task, done)
}

func siteEdit(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	var set, add, remove stringList
	fs.Var(&set, "alias", "the site's aliases become these; repeat or separate with commas")
	fs.Var(&add, "add-alias", "add an alias; repeatable")
	fs.Var(&remove, "remove-alias", "remove an alias; repeatable")
	none := fs.Bool("no-aliases", false, "remove every alias")
	var redirect optBool
	fs.Var(&redirect, "redirect-aliases", "aliases answer with a redirect to the main domain (-redirect-aliases=false to stop)")
	var php phpFlag
	fs.Var(&php, "php", phpFlagUsage)
	https := fs.String("https", "", "off, on (HTTP and HTTPS) or redirect (HTTP answers 301 to HTTPS)")
	var hsts optBool
	fs.Var(&hsts, "hsts", "send Strict-Transport-Security on HTTPS answers (-hsts=false to stop)")
	tf := taskFlags(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if len(set) == 0 && len(add) == 0 && len(remove) == 0 && !*none && !redirect.set && len(php.set) == 0 && *https == "" && !hsts.set {
		return usagef("nothing to change: give -alias, -add-alias, -remove-alias, -no-aliases, -redirect-aliases, -php, -https or -hsts")
	}
	if err := domain.HTTPSMode(*https).Validate(); err != nil {
		return usagef("-https must be off, on or redirect, not %q", *https)
	}
	if *none && len(set) > 0 {
		return usagef("-no-aliases and -alias contradict each other")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	s, raw, err := siteResource.find(ctx, c, pos[0])
	if err != nil {
		return err
	}
	// Send back the site as the API sent it, with only what was asked
	// changed; its version makes a concurrent edit fail instead of being
	// overwritten.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	aliases := slices.Clone(s.Aliases)
	if len(set) > 0 || *none {
		aliases = append([]string{}, set...)
	}
	for _, r := range remove {
		i := slices.Index(aliases, r)
		if i < 0 {
			return usagef("%s has no alias %q", s.Domain, r)
		}
		aliases = slices.Delete(aliases, i, i+1)
	}
	aliases = append(aliases, add...)
	if aliases == nil {
		aliases = []string{}
	}
	doc["aliases"], _ = json.Marshal(aliases)
	if redirect.set {
		doc["redirect_aliases"], _ = json.Marshal(redirect.val)
	}
	if len(php.set) > 0 {
		doc["php"], _ = json.Marshal(php.apply(s.PHP)) // null: the service's again
	}
	if *https != "" {
		doc["https"], _ = json.Marshal(*https)
		if domain.HTTPSMode(*https) == domain.HTTPSOff && !hsts.set {
			doc["hsts"] = json.RawMessage("false") // HSTS needs HTTPS
		}
	}
	if hsts.set {
		doc["hsts"], _ = json.Marshal(hsts.val)
	}
	var out siteAnswer
	raw, err = c.do(ctx, "PUT", c.path("sites", s.ID), nil, doc, &out)
	if err != nil {
		return err
	}
	done := fmt.Sprintf("Site %s updated.", s.Domain)
	return a.queued(ctx, c, tf, raw, out.Task, done)
}

// siteTaskVerb is a verb that queues a task of its own name, without
// arguments, on a site; its summary is the task's. The tasks that lose
// data (delete, restore: Form.Confirm) have verbs of their own that ask to
// type the domain; a task whose spec says Form.Ask (disable) asks a plain
// yes or no on a terminal, and takes -yes.
func siteTaskVerb(typ domain.TaskType, example string) *verb {
	spec := mustSpec(typ)
	v := &verb{name: string(typ), args: "ID|DOMAIN [-wait]", summary: spec.Summary, examples: []string{example}}
	if spec.Form.Ask {
		v.args = "ID|DOMAIN [-yes] [-wait]"
		v.summary = askSummary(spec)
	}
	v.run = func(ctx context.Context, a *app, args []string) error {
		fs := a.flags()
		var yes *bool
		if spec.Form.Ask {
			yes = fs.Bool("yes", false, "do not ask (on a terminal it asks yes or no)")
		}
		tf := taskFlags(fs)
		pos, c, err := a.connect(fs, args, 1, 1)
		if err != nil {
			return err
		}
		if yes != nil {
			if err := a.ask(*yes, spec.Form.Label+" "+pos[0]+"?"); err != nil {
				return err
			}
		}
		return a.queueTask(ctx, c, tf, "sites", pos[0], string(typ), nil)
	}
	return v
}

func siteDelete(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	tf := taskFlags(fs)
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	s, _, err := siteResource.find(ctx, c, pos[0])
	if err != nil {
		return err
	}
	if err := a.confirm(*yes, "delete the site "+s.Domain+" with its files and database", s.Domain); err != nil {
		return err
	}
	return a.queueTask(ctx, c, tf, "sites", s.ID, string(domain.TaskDelete), nil)
}

func siteRestore(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	backup := fs.String("backup", "", "id of the backup to restore (see 'aegir site backups'), or latest for the site's newest (required)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	tf := taskFlags(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *backup == "" {
		return usagef("site restore needs -backup BACKUP_ID; list them with 'aegir site backups %s'", pos[0])
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	s, _, err := siteResource.find(ctx, c, pos[0])
	if err != nil {
		return err
	}
	if *backup == latestBackup {
		b, err := newestBackup(ctx, c, s)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "The latest backup of %s is %s (%s, %s, %s).\n", s.Domain, b.ID, when(b.CreatedAt), humanSize(b.Size), orDash(b.Reason))
		*backup = b.ID
	}
	if err := a.confirm(*yes, "replace the files and database of "+s.Domain+" with backup "+*backup, s.Domain); err != nil {
		return err
	}
	return a.queueTask(ctx, c, tf, "sites", s.ID, string(domain.TaskRestore), map[string]string{"backup_id": *backup})
}

// moveArgs resolves the -domain, -platform and -db-server flags of clone
// and migrate into task args.
func moveArgs(ctx context.Context, c *api, newDomain, platform, dbServer string) (map[string]string, error) {
	args, err := idsOf(ctx, c, refFlag{"platform_id", platform, platformResource}, refFlag{"db_server_id", dbServer, serverResource})
	if err != nil {
		return nil, err
	}
	if newDomain != "" {
		args["domain"] = newDomain
	}
	return args, nil
}

func siteClone(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	newDomain := fs.String("domain", "", "domain of the copy (required)")
	platform := fs.String("platform", "", "platform of the copy (name or id; default the site's)")
	dbServer := fs.String("db-server", "", "db server of the copy (name or id; default the site's)")
	tf := taskFlags(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *newDomain == "" {
		return usagef("site clone needs -domain NEW")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	targs, err := moveArgs(ctx, c, *newDomain, *platform, *dbServer)
	if err != nil {
		return err
	}
	return a.queueTask(ctx, c, tf, "sites", pos[0], string(domain.TaskClone), targs)
}

func siteMigrate(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	newDomain := fs.String("domain", "", "new domain")
	platform := fs.String("platform", "", "new platform (name or id)")
	dbServer := fs.String("db-server", "", "new db server (name or id)")
	yes := fs.Bool("yes", false, "do not ask (on a terminal it asks yes or no)")
	tf := taskFlags(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *newDomain == "" && *platform == "" && *dbServer == "" {
		return usagef("site migrate needs at least one of -domain, -platform, -db-server")
	}
	if err := a.ask(*yes, "Migrate the site "+pos[0]+"? It is unavailable while it moves."); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	targs, err := moveArgs(ctx, c, *newDomain, *platform, *dbServer)
	if err != nil {
		return err
	}
	return a.queueTask(ctx, c, tf, "sites", pos[0], string(domain.TaskMigrate), targs)
}

func siteBackups(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	asJSON := jsonFlag(fs)
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	raw, err := c.get(ctx, c.path("sites", pos[0], "backups"), nil, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	// The list envelope, or a bare array.
	var p page[domain.Backup]
	if err := json.Unmarshal(raw, &p); err != nil {
		if err2 := json.Unmarshal(raw, &p.Items); err2 != nil {
			return fmt.Errorf("the API sent backups this client does not understand: %w", err)
		}
	}
	t := newTable(a.stdout, "ID", "CREATED", "SIZE", "REASON", "TASK")
	for _, b := range p.Items {
		t.row(b.ID, when(b.CreatedAt), humanSize(b.Size), b.Reason, b.TaskID)
	}
	return t.flush()
}

// humanSize formats a byte count: 512 B, 1.5 MiB.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// httpsLabel says how a site answers over HTTPS.
func httpsLabel(s *domain.Site) string {
	m := cmp.Or(s.HTTPS, domain.HTTPSOff)
	if s.HSTS {
		return string(m) + " (HSTS)"
	}
	return string(m)
}

// certLabel summarizes a site's certificate: issuer, expiry and the last
// failure with its hint.
func certLabel(c *domain.Certificate) string {
	if c == nil {
		return "none"
	}
	var parts []string
	if !c.NotAfter.IsZero() {
		parts = append(parts, fmt.Sprintf("%s, expires %s", c.Issuer, c.NotAfter.UTC().Format(time.RFC3339)))
	}
	if c.Error != "" {
		parts = append(parts, "last attempt failed: "+c.Error)
		if c.Hint != "" {
			parts = append(parts, c.Hint)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func siteUploadCertificate(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	certFile := fs.String("cert", "", "PEM file with the certificate chain, leaf first (required)")
	keyFile := fs.String("key", "", "PEM file with the unencrypted private key (required)")
	tf := taskFlags(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *certFile == "" || *keyFile == "" {
		return usagef("site upload-certificate needs -cert FILE and -key FILE")
	}
	read := func(p string) (string, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", usagef("read %s: %v", p, err)
		}
		if len(b) > 64*1024 {
			return "", usagef("%s is larger than 64 KiB: give only the chain or only the key", p)
		}
		return string(b), nil
	}
	certPEM, err := read(*certFile)
	if err != nil {
		return err
	}
	keyPEM, err := read(*keyFile)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	s, _, err := siteResource.find(ctx, c, pos[0])
	if err != nil {
		return err
	}
	var task domain.Task
	raw, err := c.do(ctx, "PUT", c.path("sites", s.ID, "certificate"), nil, map[string]string{"certificate": certPEM, "key": keyPEM}, &task)
	if err != nil {
		return err
	}
	return a.queued(ctx, c, tf, raw, &task, fmt.Sprintf("Certificate of %s uploaded.", s.Domain))
}
