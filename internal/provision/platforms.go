package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/platform"
)

// verifyPlatform checks the platform's files, recognises its type (which
// must be the declared one), reads its release and scans its packages.
func verifyPlatform(ctx context.Context, j *job) error {
	p, err := j.openPlatform(j.c.Platform)
	if err != nil {
		j.res.Changes.PlatformStatus = domain.PlatformFailed
		return err
	}
	pkgs, err := p.Packages()
	if err != nil {
		j.res.Changes.PlatformStatus = domain.PlatformFailed
		return failf(CodeFilesFailed, "Check that the platform's files are readable by the user running aegir.", err,
			"The packages of %s could not be scanned", j.c.Platform.Name)
	}
	found := toFound(pkgs, false)
	if argv := p.HookArgv("packages"); argv != nil {
		cred, err := j.platformUser(j.c.WebService)
		if err != nil {
			j.res.Changes.PlatformStatus = domain.PlatformFailed
			return err
		}
		hook, err := j.runPackagesHook(ctx, p, argv, cred)
		if err != nil {
			j.res.Changes.PlatformStatus = domain.PlatformFailed
			return err
		}
		found = append(found, hook...)
	}
	j.res.Changes.Packages = found
	j.res.Changes.PlatformStatus = domain.PlatformReady
	j.res.Changes.PlatformRel = p.Release()
	j.res.Summary = fmt.Sprintf("verified platform %s: %s, %d packages", j.c.Platform.Name, p.Release(), len(found))
	return nil
}

func toFound(pkgs []platform.Package, onSite bool) []FoundPackage {
	out := make([]FoundPackage, 0, len(pkgs))
	for _, p := range pkgs {
		out = append(out, FoundPackage{Name: p.Name, Type: p.Type, Title: p.Title, Release: p.Release, Path: p.Path, OnSite: onSite})
	}
	return out
}

// runPackagesHook runs a php platform's packages hook, which prints a JSON
// array of {name, type, title, release}: in the platform root, with the
// manifest's env and AEGIR_PLATFORM_DIR, as cred (platformUser) when set.
func (j *job) runPackagesHook(ctx context.Context, p *platform.Platform, argv []string, cred *syscall.Credential) ([]FoundPackage, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := hookProgramInside(p.Path, argv[0]); err != nil {
		return nil, failf(CodeInstallHookFailed, "Fix the hook in the platform's aegir.hcl: its program must be on the PATH or inside the platform.", err,
			"The platform's packages hook was refused")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = p.Path
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	for k, v := range p.Site().Env { // names checked by the manifest: never AEGIR_*
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "AEGIR_PLATFORM_DIR="+p.Path)
	cmd.SysProcAttr = procAttr(cred)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout bytes.Buffer
	cmd.Stdout = &limitedBuffer{buf: &stdout, max: 1 << 20}
	cmd.Stderr = &lineWriter{log: j.log, attrs: []any{"command", "packages"}}
	if err := cmd.Run(); err != nil {
		return nil, failf(CodeInstallHookFailed, "Read the hook's output in the task log and fix the platform.", err,
			"The platform's packages hook %q failed", argv)
	}
	var pkgs []FoundPackage
	if err := json.Unmarshal(stdout.Bytes(), &pkgs); err != nil {
		return nil, failf(CodeInstallHookFailed, "The packages hook must print a JSON array of {name, type, title, release}.", err,
			"The platform's packages hook printed something that is not a package list")
	}
	out := pkgs[:0]
	for _, pk := range pkgs {
		if domain.ValidateName("package", pk.Name) != nil || len(pk.Release) > 100 || len(pk.Title) > 200 || len(pk.Type) > 32 {
			j.log.Warn("skipping a package with an invalid name or field", "name", domain.Clip(pk.Name))
			continue
		}
		out = append(out, pk)
	}
	return out, nil
}

type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		return 0, errors.New("output larger than 1 MiB")
	}
	return l.buf.Write(p)
}

// sitePackages scans the site's own packages (a drupal site's modules and
// themes), keeping what was found before an error.
func (j *job) sitePackages(_ context.Context, se *siteEnvOf) ([]FoundPackage, error) {
	pkgs, err := se.loc.Plat.SitePackages(se.loc.Dir)
	if len(pkgs) == 0 {
		return nil, err
	}
	return toFound(pkgs, true), err
}

// siteDirs lists the directories under P/sites that look like sites:
// named like a domain, not Drupal's default/all, not aegir's staging dirs.
func siteDirs(platformPath string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(platformPath, "sites"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || name == "default" || name == "all" || strings.HasPrefix(name, ".") {
			continue
		}
		if d, err := domain.NormalizeDomain(name); err != nil || d != name {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// importSites finds sites already on the platform (a directory under
// sites/ named like a domain, with a settings file or, for static, a
// public/ dir) and proposes them as new sites.
func importSites(_ context.Context, j *job) error {
	p, err := j.openPlatform(j.c.Platform)
	if err != nil {
		return err
	}
	names, err := siteDirs(p.Path)
	if err != nil {
		return failf(CodeFilesFailed, "Check the permissions of the platform's sites directory.", err, "The sites of %s could not be listed", j.c.Platform.Name)
	}
	dbServer := ""
	if j.c.DBServer != nil {
		dbServer = j.c.DBServer.ID
	}
	building := partialDirs(filepath.Join(p.Path, "sites"))
	for _, name := range names {
		dir := p.SiteDir(name)
		if building[name] {
			j.log.Info("skipping a directory a clone, migrate or verify-backup is building (or left unfinished)", "dir", dir)
			continue
		}
		marker := p.SettingsFile(dir)
		if marker == "" {
			marker = filepath.Join(dir, "public")
		}
		if !exists(marker) {
			j.log.Info("skipping a directory without settings", "dir", dir)
			continue
		}
		j.res.Changes.NewSites = append(j.res.Changes.NewSites, NewSite{
			Domain: name, PlatformID: j.c.Platform.ID, DBServerID: dbServer, Status: domain.SiteEnabled,
		})
		j.log.Info("found site", "domain", name)
	}
	j.res.Summary = fmt.Sprintf("found %d sites on %s", len(j.res.Changes.NewSites), j.c.Platform.Name)
	return nil
}

func lockPlatform(_ context.Context, j *job) error {
	t := true
	j.res.Changes.PlatformLocked = &t
	j.res.Summary = fmt.Sprintf("locked platform %s: it takes no new sites", j.c.Platform.Name)
	return nil
}

func unlockPlatform(_ context.Context, j *job) error {
	f := false
	j.res.Changes.PlatformLocked = &f
	j.res.Summary = fmt.Sprintf("unlocked platform %s", j.c.Platform.Name)
	return nil
}

// deletePlatform refuses while site directories remain and otherwise
// proposes removing the platform record. The platform's code directory is
// never deleted: operators own it.
func deletePlatform(_ context.Context, j *job) error {
	names, err := siteDirs(j.c.Platform.Path)
	if err != nil {
		return failf(CodeFilesFailed, "Check the permissions of the platform's sites directory.", err, "The sites of %s could not be listed", j.c.Platform.Name)
	}
	if len(names) > 0 {
		shown := names
		if len(shown) > 10 {
			shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(names)-10))
		}
		return failf(CodeSitesRemain, "Migrate or delete those sites first, then delete the platform.", nil,
			"The platform %s still has %d site directories: %s", j.c.Platform.Name, len(names), strings.Join(shown, ", "))
	}
	j.res.Changes.RemovePlatform = true
	j.res.Summary = fmt.Sprintf("deleted platform %s; its code at %s was left in place (aegir never deletes platform code): remove it yourself when no longer needed", j.c.Platform.Name, j.c.Platform.Path)
	return nil
}

// verifyServer checks every service of the server with its driver.
func verifyServer(ctx context.Context, j *job) error {
	srv := j.c.Server
	var failed []string
	for i := range j.c.Services {
		svc := &j.c.Services[i]
		var err error
		switch svc.Type {
		case domain.ServiceHTTP:
			var w *webConn
			if w, err = j.web(svc, srv); err == nil {
				err = j.checkWeb(ctx, w)
			}
		case domain.ServiceDB:
			var d *dbConn
			if d, err = j.db(ctx, svc, srv, "admin:"+svc.ID); err == nil {
				err = j.checkDB(ctx, d)
			}
		}
		if err != nil {
			f := asFailure(err, CodeServerCheckFailed, "", "check failed")
			j.log.Error("service check failed", "service", string(svc.Kind), "explanation", f.Explanation, "fix", f.FixHint)
			failed = append(failed, fmt.Sprintf("%s: %s (%s)", svc.Kind, f.Explanation, f.FixHint))
			continue
		}
		j.log.Info("service ok", "service", string(svc.Kind))
	}
	if len(failed) > 0 {
		j.res.Changes.ServerStatus = domain.ServerFailed
		return failf(CodeServerCheckFailed, "Fix the services named above, then verify the server again.", nil,
			"%d of %d services of %s failed their check. %s", len(failed), len(j.c.Services), srv.Name, strings.Join(failed, " "))
	}
	j.res.Changes.ServerStatus = domain.ServerReady
	j.res.Summary = fmt.Sprintf("verified server %s: %d services answer", srv.Name, len(j.c.Services))
	return nil
}
