package web

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/taskspec"
)

// Every form posts with a CSRF token (checked in ui.page), changes the
// store through the same calls the API makes, and redirects (303) to a page
// with a flash message. A refused form redirects back with the reason.

func formVersion(c *fiber.Ctx) (uint64, error) {
	v, err := strconv.ParseUint(c.FormValue("version"), 10, 64)
	if err != nil || v == 0 {
		return 0, domain.Invalid("version", "is missing; reload the page and try again")
	}
	return v, nil
}

// lines splits a textarea into its non-empty trimmed lines (commas and
// spaces separate too).
func lines(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' })
	if len(f) == 0 {
		return nil
	}
	return f
}

// confirmed checks the "type the name to confirm" field of a destructive
// action.
func confirmed(c *fiber.Ctx, name string) error {
	if strings.TrimSpace(c.FormValue("confirm")) != name {
		return domain.Invalid("confirm", "type %q exactly to confirm", name)
	}
	return nil
}

// taskArgs reads the arguments spec declares from the form, trimmed,
// leaving out empty ones; nil for a task without arguments (or no spec).
func taskArgs(c *fiber.Ctx, spec *taskspec.Spec) map[string]string {
	if spec == nil || len(spec.Args) == 0 {
		return nil
	}
	args := map[string]string{}
	for _, k := range spec.ArgNames() {
		if val := strings.TrimSpace(c.FormValue(k)); val != "" {
			args[k] = val
		}
	}
	return args
}

// siteFormFields are the new-site form's fields a refused form keeps.
var siteFormFields = []string{"domain", "aliases", "redirect_aliases", "platform_id", "db_server_id", "client_id", "profile"}

func (u *ui) siteCreate(c *fiber.Ctx, v *view) error {
	site, task, err := u.ctl.Sites.Create(c.UserContext(), actor(c), apiv1.SiteCreate{
		Domain: strings.TrimSpace(c.FormValue("domain")), Aliases: lines(c.FormValue("aliases")),
		RedirectAliases: c.FormValue("redirect_aliases") == "on", Profile: strings.TrimSpace(c.FormValue("profile")),
		PlatformID: c.FormValue("platform_id"), DBServerID: c.FormValue("db_server_id"), ClientID: c.FormValue("client_id"),
		FromBackup: strings.TrimSpace(c.FormValue("from_backup")),
	})
	if err != nil {
		// Back to the form with what was typed (the page escapes it).
		q := url.Values{}
		for _, k := range siteFormFields {
			if val := c.FormValue(k); val != "" && len(val) <= 4096 {
				q.Set(k, val)
			}
		}
		return &backError{err: err, back: "/sites/new?" + q.Encode()}
	}
	if c.FormValue("from_backup") != "" {
		return u.done(c, "/tasks/"+task.ID, "Site %s is coming back from its backup; its install is queued.", site.Domain)
	}
	return u.done(c, "/tasks/"+task.ID, "Site %s created; its install is queued.", site.Domain)
}

// siteImportPath takes an uploaded backup archive: the body is the file
// itself, streamed (the API server's UploadBody), and the query says
// where the site goes. app.js sends it with the form's CSRF token in the
// X-CSRF-Token header, so the body is never parsed as a form.
const siteImportPath = "/sites/import"

func (u *ui) siteImportSubmit(c *fiber.Ctx, v *view) error {
	if err := u.api.ImportTooLarge(c); err != nil {
		return err
	}
	req := apiv1.SiteImport{Domain: strings.TrimSpace(c.Query("domain")), PlatformID: c.Query("platform_id"),
		DBServerID: c.Query("db_server_id"), ClientID: c.Query("client_id")}
	site, task, err := u.ctl.Sites.Import(c.UserContext(), actor(c), req, u.api.UploadBody(c))
	if err != nil {
		return err
	}
	return u.done(c, "/tasks/"+task.ID, "Site %s imported; its install from the archive is queued.", site.Domain)
}

func (u *ui) siteUpdate(c *fiber.Ctx, v *view) error {
	old, err := u.loadSite(c)
	if err != nil {
		return err
	}
	ver, err := formVersion(c)
	if err != nil {
		return err
	}
	site := *old
	site.Version = ver
	site.Aliases = lines(c.FormValue("aliases"))
	site.RedirectAliases = c.FormValue("redirect_aliases") == "on"
	site.Profile = strings.TrimSpace(c.FormValue("profile"))
	if h := c.FormValue("https"); h != "" { // forms without the field keep the setting
		site.HTTPS, site.HSTS = domain.HTTPSMode(h), c.FormValue("hsts") == "on"
		if !site.HTTPS.Enabled() {
			site.HSTS = false
		}
	}
	if cid := c.FormValue("client_id"); cid != "" {
		site.ClientID = cid
	}
	if _, err := u.ctl.Sites.Update(c.UserContext(), actor(c), site.ID, &site); err != nil {
		return err
	}
	return u.done(c, "/sites/"+site.ID, "Saved %s; a verify task applies the change.", site.Domain)
}

func (u *ui) siteTaskSubmit(c *fiber.Ctx, v *view) error {
	site, err := u.loadSite(c)
	if err != nil {
		return err
	}
	typ := domain.TaskType(c.FormValue("type"))
	// A type of no site task is refused by the store; its spec says
	// whether the domain must be typed and which arguments it reads.
	spec, _ := taskspec.Resolve(domain.TargetSite, string(typ))
	if spec != nil && spec.Form.Confirm {
		if err := confirmed(c, site.Domain); err != nil {
			return err
		}
	}
	args := taskArgs(c, spec)
	task, err := u.ctl.Sites.Task(c.UserContext(), actor(c), site.ID, apiv1.TaskRequest{Type: string(typ), Args: args})
	if err != nil {
		return err
	}
	to := "/sites/" + site.ID
	if c.FormValue("follow") == "1" {
		to = "/tasks/" + task.ID
	}
	return u.done(c, to, "%s of %s is queued.", capitalize(string(typ)), site.Domain)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (u *ui) platformCreate(c *fiber.Ctx, v *view) error {
	p, task, err := u.ctl.Platforms.Create(c.UserContext(), actor(c), apiv1.PlatformCreate{
		Name: strings.TrimSpace(c.FormValue("name")), Path: strings.TrimSpace(c.FormValue("path")),
		Type: c.FormValue("type"), WebServerID: c.FormValue("web_server_id"),
	})
	if err != nil {
		return err
	}
	return u.done(c, "/platforms/"+p.ID, "Platform %s created; verify-platform (task %s) is queued.", p.Name, task.ID)
}

func (u *ui) platformTaskSubmit(c *fiber.Ctx, v *view) error {
	p, err := u.ctl.Platforms.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	// The API's names too: "delete" is delete-platform, and asks for the
	// name as well.
	typ := control.PlatformTaskType(c.FormValue("type"))
	spec, _ := taskspec.Resolve(domain.TargetPlatform, string(typ))
	if spec != nil && spec.Form.Confirm {
		if err := confirmed(c, p.Name); err != nil {
			return err
		}
	}
	args := taskArgs(c, spec)
	task, err := u.ctl.Platforms.Task(c.UserContext(), actor(c), p.ID, apiv1.TaskRequest{Type: string(typ), Args: args})
	if err != nil {
		return err
	}
	back := "/platforms/" + p.ID
	if spec != nil && spec.Form.Follow {
		back = "/tasks/" + task.ID
	}
	return u.done(c, back, "%s of platform %s is queued (task %s).", capitalize(string(typ)), p.Name, task.ID)
}

// servicesFromForm reads the new-server form's service checkboxes: kind_<k>
// on, port_<k>.
func servicesFromForm(c *fiber.Ctx) ([]apiv1.ServiceCreate, error) {
	var out []apiv1.ServiceCreate
	for _, k := range domain.ServiceKinds() {
		if c.FormValue("kind_"+string(k)) != "on" {
			continue
		}
		svc := apiv1.ServiceCreate{Kind: string(k)}
		if p := strings.TrimSpace(c.FormValue("port_" + string(k))); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, domain.Invalid("port", "%s port must be a number", k)
			}
			svc.Port = n
		}
		out = append(out, svc)
	}
	return out, nil
}

func (u *ui) serverCreate(c *fiber.Ctx, v *view) error {
	svcs, err := servicesFromForm(c)
	if err != nil {
		return err
	}
	out, err := u.ctl.Servers.Create(c.UserContext(), actor(c), apiv1.ServerCreate{
		Name: strings.TrimSpace(c.FormValue("name")), Address: strings.TrimSpace(c.FormValue("address")),
		NomadNode: strings.TrimSpace(c.FormValue("nomad_node")), Services: svcs,
	})
	if err != nil {
		return err
	}
	return u.done(c, "/servers/"+out.Server.ID, "Server %s created; verify-server is queued.", out.Server.Name)
}

func (u *ui) serverUpdate(c *fiber.Ctx, v *view) error {
	old, err := u.ctl.Servers.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	ver, err := formVersion(c)
	if err != nil {
		return err
	}
	srv := *old
	srv.Version = ver
	srv.Name, srv.Address, srv.NomadNode = strings.TrimSpace(c.FormValue("name")), strings.TrimSpace(c.FormValue("address")), strings.TrimSpace(c.FormValue("nomad_node"))
	if _, err := u.ctl.Servers.Update(c.UserContext(), actor(c), srv.ID, &srv); err != nil {
		return err
	}
	return u.done(c, "/servers/"+srv.ID, "Saved server %s; verify-server is queued.", srv.Name)
}

func (u *ui) serverTaskSubmit(c *fiber.Ctx, v *view) error {
	id := idParam(c)
	if _, err := u.ctl.Servers.Task(c.UserContext(), actor(c), id, apiv1.TaskRequest{Type: string(domain.TaskVerifyServer)}); err != nil {
		return err
	}
	return u.done(c, "/servers/"+id, "Verify-server is queued.")
}

func (u *ui) serverDelete(c *fiber.Ctx, v *view) error {
	srv, err := u.ctl.Servers.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	if err := confirmed(c, srv.Name); err != nil {
		return err
	}
	ver, err := formVersion(c)
	if err != nil {
		return err
	}
	if err := u.ctl.Servers.Delete(c.UserContext(), actor(c), srv.ID, ver); err != nil {
		return err
	}
	return u.done(c, "/servers", "Server %s deleted.", srv.Name)
}

func parseSettings(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, ln := range strings.Split(s, "\n") {
		ln = strings.TrimSpace(ln)
		if ln == "" {
			continue
		}
		k, val, ok := strings.Cut(ln, "=")
		if !ok {
			return nil, domain.Invalid("settings", "write one key=value per line")
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (u *ui) serviceCreate(c *fiber.Ctx, v *view) error {
	id := idParam(c)
	req := apiv1.ServiceCreate{ServerID: id, Kind: c.FormValue("kind")}
	if p := strings.TrimSpace(c.FormValue("port")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return domain.Invalid("port", "must be a number")
		}
		req.Port = n
	}
	var err error
	if req.Settings, err = parseSettings(c.FormValue("settings")); err != nil {
		return err
	}
	svc, err := u.ctl.Services.Create(c.UserContext(), actor(c), req)
	if err != nil {
		return err
	}
	return u.done(c, "/servers/"+id, "Added the %s service.", svc.Kind)
}

func (u *ui) serviceUpdate(c *fiber.Ctx, v *view) error {
	old, err := u.ctl.Services.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	ver, err := formVersion(c)
	if err != nil {
		return err
	}
	svc := *old
	svc.Version = ver
	svc.Port = 0
	if p := strings.TrimSpace(c.FormValue("port")); p != "" {
		if svc.Port, err = strconv.Atoi(p); err != nil {
			return domain.Invalid("port", "must be a number")
		}
	}
	if svc.Settings, err = parseSettings(c.FormValue("settings")); err != nil {
		return err
	}
	if err := u.ctl.Services.Update(c.UserContext(), actor(c), svc.ID, &svc); err != nil {
		return err
	}
	return u.done(c, "/servers/"+svc.ServerID, "Saved the %s service.", svc.Kind)
}

func (u *ui) serviceDelete(c *fiber.Ctx, v *view) error {
	svc, err := u.ctl.Services.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	if err := confirmed(c, string(svc.Kind)); err != nil {
		return err
	}
	ver, err := formVersion(c)
	if err != nil {
		return err
	}
	if err := u.ctl.Services.Delete(c.UserContext(), actor(c), svc.ID, ver); err != nil {
		return err
	}
	return u.done(c, "/servers/"+svc.ServerID, "Deleted the %s service.", svc.Kind)
}

func (u *ui) clientCreate(c *fiber.Ctx, v *view) error {
	cl, err := u.ctl.Clients.Create(c.UserContext(), actor(c), apiv1.ClientCreate{
		Name: strings.TrimSpace(c.FormValue("name")), Title: strings.TrimSpace(c.FormValue("title")), Email: strings.TrimSpace(c.FormValue("email")),
	})
	if err != nil {
		return err
	}
	return u.done(c, "/clients/"+cl.ID, "Client %s created.", cl.Name)
}

func (u *ui) clientUpdate(c *fiber.Ctx, v *view) error {
	old, err := u.ctl.Clients.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	ver, err := formVersion(c)
	if err != nil {
		return err
	}
	cl := *old
	cl.Version = ver
	cl.Name, cl.Title, cl.Email = strings.TrimSpace(c.FormValue("name")), strings.TrimSpace(c.FormValue("title")), strings.TrimSpace(c.FormValue("email"))
	if cl.Quotas, err = formQuotas(c, old.Quotas); err != nil {
		return err
	}
	if err := u.ctl.Clients.Update(c.UserContext(), actor(c), cl.ID, &cl); err != nil {
		return err
	}
	return u.done(c, "/clients/"+cl.ID, "Saved client %s.", cl.Name)
}

func (u *ui) clientDelete(c *fiber.Ctx, v *view) error {
	cl, err := u.ctl.Clients.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	if err := confirmed(c, cl.Name); err != nil {
		return err
	}
	ver, err := formVersion(c)
	if err != nil {
		return err
	}
	if err := u.ctl.Clients.Delete(c.UserContext(), actor(c), cl.ID, ver); err != nil {
		return err
	}
	return u.done(c, "/clients", "Client %s deleted.", cl.Name)
}

func (u *ui) taskCancel(c *fiber.Ctx, v *view) error {
	t, _, err := u.ctl.Tasks.Cancel(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return u.done(c, "/tasks/"+t.ID, "Cancelling task %s.", t.ID)
}

func (u *ui) taskRetry(c *fiber.Ctx, v *view) error {
	t, err := u.ctl.Tasks.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	// The page hides what a client user may not retry (the API says 403).
	if t.TargetKind != domain.TargetSite && !v.Admin {
		return errNotFoundPage
	}
	nt, err := u.ctl.Tasks.Retry(c.UserContext(), actor(c), t.ID)
	if err != nil {
		return err
	}
	return u.done(c, "/tasks/"+nt.ID, "Retry of %s queued.", t.Type)
}

// userFromForm reads the user fields of the create and edit forms.
func (u *ui) userFromForm(c *fiber.Ctx, usr *domain.User) error {
	usr.Name, usr.Email, usr.Role = strings.TrimSpace(c.FormValue("name")), strings.TrimSpace(c.FormValue("email")), domain.Role(c.FormValue("role"))
	var ids []string
	c.Request().PostArgs().VisitAll(func(k, val []byte) {
		if string(k) == "client_ids" {
			ids = append(ids, string(val))
		}
	})
	if c.Request().PostArgs().Len() == 0 {
		if mf, err := c.MultipartForm(); err == nil {
			ids = mf.Value["client_ids"]
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if _, err := u.st.GetClient(c.UserContext(), id); err != nil {
			return domain.Invalid("client_ids", "%v", err)
		}
	}
	usr.ClientIDs = ids
	if usr.Role == domain.RoleClient && len(ids) == 0 {
		return domain.Invalid("client_ids", "a client user needs at least one client")
	}
	return nil
}

func (u *ui) userCreate(c *fiber.Ctx, v *view) error {
	usr := &domain.User{}
	if err := u.userFromForm(c, usr); err != nil {
		return err
	}
	if pw := c.FormValue("password"); pw != "" {
		h, err := HashPassword(pw)
		if err != nil {
			return err
		}
		usr.PasswordHash = h
	}
	usr, err := u.ctl.Users.Create(c.UserContext(), actor(c), apiv1.UserCreate{
		Name: usr.Name, Email: usr.Email, Role: string(usr.Role), ClientIDs: usr.ClientIDs,
	}, usr.PasswordHash)
	if err != nil {
		return err
	}
	return u.done(c, "/users/"+usr.ID, "User %s created.", usr.Name)
}

func (u *ui) userUpdate(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	old, err := u.ctl.Users.Get(ctx, actor(c), idParam(c))
	if err != nil {
		return err
	}
	ver, err := formVersion(c)
	if err != nil {
		return err
	}
	usr := *old
	usr.Version = ver
	if c.FormValue("form") == "password" {
		if err := SetPassword(u.ctl.Audit.PasswordChange(ctx, actor(c), &usr), u.st, &usr, c.FormValue("password")); err != nil {
			return err
		}
		if usr.ID == v.User.ID {
			u.startSession(c, &usr)
		}
		return u.done(c, "/users/"+usr.ID, "Password of %s set; their other sessions were logged out.", usr.Name)
	}
	if err := u.userFromForm(c, &usr); err != nil {
		return err
	}
	if usr.ID == v.User.ID && usr.Role != domain.RoleAdmin {
		return domain.Invalid("role", "you cannot take away your own admin role; ask another admin")
	}
	saved, err := u.ctl.Users.Update(ctx, actor(c), usr.ID, apiv1.UserUpdate{
		Name: usr.Name, Email: usr.Email, Role: string(usr.Role), ClientIDs: usr.ClientIDs, Version: usr.Version,
	})
	if err != nil {
		return err
	}
	usr = *saved
	return u.done(c, "/users/"+usr.ID, "Saved user %s.", usr.Name)
}

func (u *ui) userDelete(c *fiber.Ctx, v *view) error {
	usr, err := u.ctl.Users.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	if err := confirmed(c, usr.Name); err != nil {
		return err
	}
	ver, err := formVersion(c)
	if err != nil {
		return err
	}
	if err := u.ctl.Users.Delete(c.UserContext(), actor(c), usr.ID, ver); err != nil {
		return err
	}
	return u.done(c, "/users", "User %s deleted.", usr.Name)
}

// tokenCreate renders the tokens page with the new secret rather than
// redirecting: the secret is shown once and never put in a cookie.
func (u *ui) tokenCreate(c *fiber.Ctx, v *view) error {
	uid := v.User.ID
	if o := c.FormValue("user_id"); o != "" && o != uid {
		if !v.Admin {
			return errNotFoundPage
		}
		uid = o
	}
	tok, secret, err := u.ctl.Tokens.Create(c.UserContext(), actor(c), apiv1.TokenCreate{
		Name: strings.TrimSpace(c.FormValue("name")), UserID: uid, TTL: strings.TrimSpace(c.FormValue("ttl")),
	})
	if err != nil {
		return err
	}
	d, err := u.tokensData(c, v)
	if err != nil {
		return err
	}
	d.Secret, d.Made = secret, tok
	v.Title, v.Nav = "API tokens", "tokens"
	v.Flash = &flash{Kind: "ok", Message: fmt.Sprintf("Token %s created. Copy it now: it is not shown again.", firstOf(tok.Name, tok.ID))}
	c.Status(fiber.StatusCreated)
	return u.render(c, "tokens", v, d)
}

func (u *ui) tokenDelete(c *fiber.Ctx, v *view) error {
	tok, err := u.ctl.Tokens.Delete(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return u.done(c, "/tokens", "Token %s revoked.", firstOf(tok.Name, tok.ID))
}

// formQuotas reads the client form's quota_<name> fields over old: an
// empty field is the server's default, "0" or "unlimited" no limit. A form
// without a quota's field leaves it as it was.
func formQuotas(c *fiber.Ctx, old domain.Quotas) (domain.Quotas, error) {
	q := domain.Quotas{}
	for k, v := range old {
		q[k] = v
	}
	for _, n := range domain.QuotaNames {
		field := "quota_" + n
		if c.Request().PostArgs().Peek(field) == nil {
			continue
		}
		v := strings.TrimSpace(c.FormValue(field))
		if v == "" {
			delete(q, n)
			continue
		}
		lim, err := domain.ParseQuota(n, v)
		if err != nil {
			return nil, err
		}
		q[n] = lim
	}
	if len(q) == 0 {
		return nil, nil
	}
	return q, nil
}

// quotaDefaultsUpdate stores the default quotas from the clients page.
func (u *ui) quotaDefaultsUpdate(c *fiber.Ctx, v *view) error {
	ver, err := strconv.ParseUint(c.FormValue("version"), 10, 64)
	if err != nil {
		return domain.Invalid("version", "is not a version")
	}
	old, err := u.ctl.Clients.Defaults(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	q, err := formQuotas(c, old.Overrides)
	if err != nil {
		return err
	}
	if _, err := u.ctl.Clients.SetDefaults(c.UserContext(), actor(c), apiv1.QuotaDefaultsUpdate{Overrides: q, Version: ver}); err != nil {
		return err
	}
	return u.done(c, "/clients", "Saved the default quotas.")
}
