package builtinweb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/atomicfile"
	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/weberr"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// Driver is the provision.WebDriver of the builtin web server. It writes
// route files that a Server (possibly in another process) picks up by
// itself: publishing needs no signal or reload command.
type Driver struct {
	dir   string
	certs string // CertsDir
	url   string
	log   *slog.Logger
}

var (
	_ provision.WebDriver  = (*Driver)(nil)
	_ provision.WebFactory = NewDriverFactory
)

// RoutesDir is where the routes of a data dir live: <DataDir>/builtin/routes.
func RoutesDir(dataDir string) string { return filepath.Join(dataDir, "builtin", "routes") }

// NewDriverFactory is the provision.WebFactory for builtin services: routes
// in RoutesDir(env.DataDir), URL http://<server address>:<service port>.
func NewDriverFactory(svc provision.ServiceInfo, srv provision.ServerInfo, env provision.EnvInfo, log *slog.Logger) (provision.WebDriver, error) {
	if env.DataDir == "" || !filepath.IsAbs(env.DataDir) {
		return nil, fmt.Errorf("builtin web service %s: the context's data_dir %q is not an absolute path", svc.ID, env.DataDir)
	}
	// https_port is for a router in front (internal/routing); the
	// server's own HTTPS listener is aegir's tls sites_addr.
	if v := svc.Settings["https_port"]; v != "" {
		desc, _ := servicekind.Lookup(servicekind.Builtin)
		if err := desc.CheckValue("https_port", v); err != nil {
			return nil, fmt.Errorf("builtin web service %s: %w", svc.ID, domain.Invalid("https_port", "%v", err))
		}
	}
	addr := srv.Address
	if addr == "" {
		addr = "127.0.0.1"
	}
	url := "http://" + addr
	if svc.Port != 0 {
		url = "http://" + net.JoinHostPort(addr, strconv.Itoa(svc.Port))
	}
	return NewDriver(RoutesDir(env.DataDir), url, log)
}

// NewDriver returns a driver writing route files to routesDir, for a
// server answering at url. log may be nil.
func NewDriver(routesDir, url string, log *slog.Logger) (*Driver, error) {
	if routesDir == "" || !filepath.IsAbs(routesDir) {
		return nil, fmt.Errorf("builtin routes dir %q must be an absolute path", routesDir)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{dir: filepath.Clean(routesDir), certs: certsDirFor(filepath.Clean(routesDir)), url: url, log: log.With("component", "builtinweb-driver")}, nil
}

// unavailable is a weberr.ErrUnavailable failure of op: the routes dir
// cannot be written ("web_unavailable").
func unavailable(op string, err error) error {
	return &weberr.Error{Kind: weberr.ErrUnavailable, Server: "builtin", Op: op, Err: err}
}

// Check verifies the routes dir exists (creating it) and is writable.
// Failures are weberr.ErrUnavailable.
func (d *Driver) Check(ctx context.Context) error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return unavailable("check", fmt.Errorf("create builtin routes dir: %w", err))
	}
	f, err := os.CreateTemp(d.dir, ".check-*")
	if err != nil {
		return unavailable("check", fmt.Errorf("builtin routes dir %s is not writable by this user: %w", d.dir, err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// Publish validates the site and writes its route file atomically. An
// invalid site changes nothing (domain.ErrInvalid); a routes dir that
// cannot be written is weberr.ErrUnavailable. The server reloads routes by
// itself, so there is no reload to fail.
func (d *Driver) Publish(ctx context.Context, ws provision.WebSite) error {
	ws, err := ValidateSite(ws)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(ws, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return unavailable("publish "+ws.Domain, fmt.Errorf("create builtin routes dir: %w", err))
	}
	// The certificate goes first: the server reads it when the new route
	// appears.
	if ws.TLS != nil {
		if err := writeCert(d.certs, ws.Domain, ws.TLS); err != nil {
			if errors.Is(err, certs.ErrInvalid) {
				return domain.Invalid("tls", "%v", err)
			}
			return unavailable("publish "+ws.Domain, err)
		}
	}
	if err := atomicfile.Write(filepath.Join(d.dir, ws.Domain+routeExt), b, 0o644); err != nil {
		return unavailable("publish "+ws.Domain, err)
	}
	if ws.TLS == nil {
		if err := removeCert(d.certs, ws.Domain); err != nil {
			d.log.WarnContext(ctx, "the old certificate file could not be removed", "domain", ws.Domain, "err", err)
		}
	}
	d.log.InfoContext(ctx, "published site", "domain", ws.Domain, "aliases", len(ws.Aliases), "disabled", ws.Disabled, "https", ws.TLS != nil)
	return nil
}

// Remove deletes the site's route file; a missing one is not an error.
func (d *Driver) Remove(ctx context.Context, domain string) error {
	name, err := routeFileName(domain)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(d.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return unavailable("remove "+domain, fmt.Errorf("remove route: %w", err))
	}
	if err := removeCert(d.certs, strings.TrimSuffix(name, routeExt)); err != nil {
		return unavailable("remove "+domain, fmt.Errorf("remove certificate: %w", err))
	}
	d.log.InfoContext(ctx, "removed site", "domain", domain)
	return nil
}

// URL returns where the builtin server answers.
func (d *Driver) URL() string { return d.url }

// RoutesDir returns the directory the driver writes to.
func (d *Driver) RoutesDir() string { return d.dir }
