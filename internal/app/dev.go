package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/domain"
)

// runDev is "aegir dev": every component in one process on the embedded
// defaults, with a local server, a default client and an example platform
// created on first start so a site can be created right away.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("aegir dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config.Flags(fs)
	cfgFile := fs.String("config", "", "optional HCL config file")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: aegir dev [flags]\n\nRuns aegir in one process on embedded defaults: a bbolt store in the data dir,\ntasks as child processes, the builtin web server for sites, SQLite databases.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.Load(config.ModeDev, *cfgFile, os.Getenv, fs)
	if err != nil {
		fmt.Fprintln(stderr, "aegir dev:", err)
		return 2
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintln(stderr, "aegir dev:", err)
		return 2
	}
	n, err := openNode(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "aegir dev:", err)
		return 1
	}
	tokenFile, err := bootstrapAdmin(ctx, n)
	if err != nil {
		fmt.Fprintln(stderr, "aegir dev:", err)
		n.close()
		return 1
	}
	if err := bootstrapDev(ctx, n); err != nil {
		fmt.Fprintln(stderr, "aegir dev: setting up the local server:", err)
		n.close()
		return 1
	}
	n.listening = func() {
		fmt.Fprintf(stdout, `aegir dev is running.
  dashboard          http://%s  (log in as admin; the password is in %s)
  API                http://%[1]s/api/v1  (OpenAPI: /api/v1/openapi.json)
  sites              http://%[3]s  (send the site's domain as Host)
  data               %[4]s
  admin token        %[5]s
Try:
  export AEGIR_ADDR=http://%s AEGIR_TOKEN=$(cat %s)
  aegir site create hello.localhost -platform example -db-server local -client default -wait
  curl -H 'Host: hello.localhost' http://%s/
`, cfg.HTTPAddr, filepath.Join(cfg.DataDir, "admin-password"), cfg.SitesAddr, cfg.DataDir, tokenFile, cfg.HTTPAddr, tokenFile, cfg.SitesAddr)
		if cfg.TLS.SitesAddr != "" && cfg.TLS.Issuer == "local" {
			fmt.Fprintf(stdout, `HTTPS (local CA; trust its root from http://%s/tls/local-ca.pem):
  sites over HTTPS   https://%s  (aegir site edit hello.localhost -https redirect)
  curl --cacert aegir-local-ca.pem --connect-to hello.localhost:443:%[2]s https://hello.localhost/
`, cfg.HTTPAddr, cfg.TLS.SitesAddr)
		}
	}
	if err := n.start(ctx); err != nil {
		fmt.Fprintln(stderr, "aegir dev:", err)
		return 1
	}
	return 0
}

// bootstrapAdmin creates the first admin and writes its token to
// <data-dir>/admin-token and its dashboard password to
// <data-dir>/admin-password (both mode 0600). It returns the token file's
// path. Of servers bootstrapping one store at once, only the one whose
// transaction made the admin (with its token and password) writes the two
// files; the others write none and start normally.
func bootstrapAdmin(ctx context.Context, n *node) (string, error) {
	path := filepath.Join(n.cfg.DataDir, "admin-token")
	pwFile := filepath.Join(n.cfg.DataDir, "admin-password")
	password, hash, err := dashboard.NewAdminPassword()
	if err != nil {
		return "", err
	}
	secret, created, err := n.store.EnsureAdminWithPassword(ctx, hash)
	if err != nil {
		return "", fmt.Errorf("create the first admin: %w", err)
	}
	if created {
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write the admin token: %w", err)
		}
		n.log.Info("created the admin user; its token is in the admin-token file", "path", path)
		if err := dashboard.WriteAdminPassword(pwFile, password); err != nil {
			return "", err
		}
		n.log.Info("created the admin's dashboard password", "path", pwFile)
		return path, nil
	}
	if _, err := os.Stat(path); err != nil {
		n.log.Info("the admin exists and its token file is not here: another server made it (its data dir has the file), or create a token with an admin's credentials (aegir token create)", "path", path)
	}
	// An admin made before admins had a password gets one now.
	set, err := dashboard.EnsureAdminPassword(ctx, n.store, pwFile)
	if err != nil {
		return "", fmt.Errorf("set the admin's dashboard password: %w", err)
	}
	if set {
		n.log.Info("created the admin's dashboard password", "path", pwFile)
	}
	return path, nil
}

// exampleIndex is the example static platform's page.
const exampleIndex = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hosted by aegir</title></head>
<body><h1>It works</h1><p>This site is served by aegir from the example static platform.</p></body></html>
`

// bootstrapDev creates, on a fresh data dir, the "local" server (builtin
// web server on the sites address, SQLite), the "default" client and the
// "example" static platform.
func bootstrapDev(ctx context.Context, n *node) error {
	servers, err := n.store.ListServers(ctx)
	if err != nil {
		return err
	}
	if len(servers) == 0 {
		host, portStr, err := net.SplitHostPort(n.cfg.SitesAddr)
		if err != nil {
			return err
		}
		port, _ := strconv.Atoi(portStr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		srv := &domain.Server{Name: "local", Address: host}
		_, err = n.store.CreateServer(ctx, srv, []domain.Service{
			{Kind: domain.KindBuiltin, Port: port},
			{Kind: domain.KindSQLite},
		}, "aegir dev")
		if err != nil {
			return fmt.Errorf("create the local server: %w", err)
		}
		servers = append(servers, *srv)
	}
	clients, err := n.store.ListClients(ctx)
	if err != nil {
		return err
	}
	if len(clients) == 0 {
		if err := n.store.CreateClient(ctx, &domain.Client{Name: "default", Title: "Default client"}); err != nil {
			return fmt.Errorf("create the default client: %w", err)
		}
	}
	platforms, err := n.store.ListPlatforms(ctx)
	if err != nil {
		return err
	}
	if len(platforms) == 0 {
		dir := filepath.Join(n.cfg.DataDir, "platforms", "example")
		if err := os.MkdirAll(filepath.Join(dir, "public"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "public", "index.html"), []byte(exampleIndex), 0o644); err != nil {
			return err
		}
		local, err := n.store.ServerByName(ctx, "local")
		if err != nil {
			local = &servers[0]
		}
		p := &domain.Platform{Name: "example", Path: dir, WebServerID: local.ID, Type: domain.PlatformStatic}
		if _, err := n.store.CreatePlatform(ctx, p, "aegir dev"); err != nil {
			return fmt.Errorf("create the example platform: %w", err)
		}
	}
	return nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
