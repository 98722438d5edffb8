package provision

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/aegirhq/aegir/internal/domain"
)

// runSiteHook runs the platform's hook name (platform.HookPostRestore ...)
// for the site at loc, when the platform declares one: argv without a
// shell, in the platform root, with the site's environment (siteEnv: the
// AEGIR_* variables and the manifest's env) and, when the site has a Unix
// user (loc.Cred), as that user. A failing hook is a CodeHookFailed
// failure, which the caller's undo list rolls back like any failing step.
func (j *job) runSiteHook(ctx context.Context, name string, loc siteLoc, cr DBCreds) error {
	argv := loc.Plat.HookArgv(name)
	if argv == nil {
		return nil
	}
	if err := hookProgramInside(loc.Plat.Path, argv[0]); err != nil {
		return failf(CodeHookFailed, "Fix the hook in the platform's aegir.hcl: its program must be on the PATH or inside the platform.", err,
			"The platform's %s hook was refused", name)
	}
	if err := j.runCommandAs(ctx, name, argv, loc.Plat.Path, siteEnv(loc, cr), loc.Cred); err != nil {
		return failf(CodeHookFailed, "Read the hook's output in the task log above, fix the platform or the site, and run the task again.", err,
			"The platform's %s hook %q failed for %s", name, argv, loc.Domain)
	}
	j.log.Info("hook succeeded", "hook", name, "domain", loc.Domain)
	return nil
}

// hookProgramInside checks that a hook program given as a path (the
// manifest allows only relative ones, made absolute inside the platform)
// still lies inside the platform once links are resolved. A bare name is
// looked up on the PATH by exec.
func hookProgramInside(platformDir, prog string) error {
	if !strings.Contains(prog, "/") {
		return nil
	}
	root, err := filepath.EvalSymlinks(platformDir)
	if err != nil {
		return err
	}
	p, err := filepath.EvalSymlinks(prog)
	if err != nil {
		return err
	}
	if p != root && !strings.HasPrefix(p, root+string(filepath.Separator)) {
		return fmt.Errorf("%s resolves to %s, outside the platform %s", prog, domain.Clip(p), root)
	}
	return nil
}

// procAttr is how every platform command starts: in its own process group
// (a cancel kills it all) and, when cred is set, as the site's user and
// group.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if cred != nil {
		c := *cred
		a.Credential = &c
	}
	return a
}

// withoutDatabase is d for a site whose platform declares database =
// false: every database step of install, backup, restore, clone, migrate
// and delete does nothing (a backup's database entry is empty).
func withoutDatabase(d *dbConn) *dbConn {
	if d.none {
		return d
	}
	return &dbConn{DBDriver: noDatabase{}, svc: d.svc, srv: d.srv, none: true}
}

// noDatabase is the DBDriver of a site without a database.
type noDatabase struct{}

func (noDatabase) Check(context.Context) error                        { return nil }
func (noDatabase) Create(context.Context, DBCreds) error              { return nil }
func (noDatabase) Drop(context.Context, DBCreds) error                { return nil }
func (noDatabase) Dump(context.Context, DBCreds, io.Writer) error     { return nil }
func (noDatabase) SetPassword(context.Context, DBCreds, string) error { return nil }
func (noDatabase) Count(context.Context, DBCreds, string) (int64, error) {
	return 0, nil
}

// Load reads the (empty) dump to its end so a streaming writer finishes.
func (noDatabase) Load(_ context.Context, _ DBCreds, r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// Locate names no server: siteEnv and settings leave the database out.
func (noDatabase) Locate(name string) DBCreds { return DBCreds{Name: name, User: name} }

// hasDatabase reports whether the site at loc has a database.
func hasDatabase(loc siteLoc) bool { return loc.Plat.Site().Database }

// siteDB is d, or d without a database when loc's platform declares none.
func siteDB(loc siteLoc, d *dbConn) *dbConn {
	if !hasDatabase(loc) {
		return withoutDatabase(d)
	}
	return d
}

// A site without a database has nothing to set aside.
func (noDatabase) SetAside(context.Context, DBCreds, string) error  { return nil }
func (noDatabase) PutBack(context.Context, DBCreds, string) error   { return nil }
func (noDatabase) DropAside(context.Context, DBCreds, string) error { return nil }
