package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/scheduler"
	"github.com/aegirhq/aegir/secrets"
)

// node is one aegir process's components: the store, the log bus and
// locks, the secrets backend, the dispatcher, and the API.
type node struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *store.Store
	bus     logbus.Bus
	locker  locks.Locker
	secrets secrets.Store
	disp    *scheduler.Dispatcher
	api     *dashboard.Server
	web     *builtinweb.Server
	closers []func() error
}

// openNode builds every component from cfg; start runs them.
func openNode(cfg *config.Config, log *slog.Logger) (_ *node, err error) {
	n := &node{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	var kv store.KV
	switch cfg.Store.Backend {
	case "bolt":
		kv, err = boltkv.Open(filepath.Join(cfg.DataDir, "aegir.db"), nil)
	case "consul":
		kv, err = consulkv.New(consulkv.Config{
			Address: cfg.Store.Consul.Address, Token: cfg.Store.Consul.Token,
			Prefix: cfg.Store.Consul.Prefix, Datacenter: cfg.Store.Consul.Datacenter,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", cfg.Store.Backend, err)
	}
	n.store = store.New(kv, &store.Config{Logger: log, PlatformRoots: cfg.PlatformRoots})
	n.closers = append(n.closers, n.store.Close)

	n.bus = logbus.NewMemory(nil)
	n.locker = locks.NewMemory()
	if cfg.Redis.Address != "" {
		return nil, errors.New("redis is configured but this build's Redis log bus is not wired yet; remove redis.address")
	}

	switch cfg.Secrets.Backend {
	case "file":
		n.secrets, err = secrets.OpenFile(filepath.Join(cfg.DataDir, "secrets"))
	default:
		err = fmt.Errorf("secrets backend %q is not available in this build; use file", cfg.Secrets.Backend)
	}
	if err != nil {
		return nil, err
	}

	if cfg.Executor.Kind != "local" {
		return nil, fmt.Errorf("executor %q is not available in this build; use local", cfg.Executor.Kind)
	}
	exec, err := scheduler.NewLocalExecutor(scheduler.LocalConfig{Bus: n.bus, Logger: log})
	if err != nil {
		return nil, err
	}
	n.disp, err = scheduler.New(scheduler.Config{
		Store: n.store, Executor: exec, Bus: n.bus, Locker: n.locker,
		MaxParallel: cfg.Executor.MaxParallel, TaskTimeout: cfg.TaskTimeoutDuration(),
		Env: provision.EnvInfo{
			DataDir:        cfg.DataDir,
			BackupDir:      cfg.BackupDir,
			SecretsBackend: cfg.Secrets.Backend,
		},
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	n.web, err = builtinweb.New(builtinweb.Config{RoutesDir: builtinweb.RoutesDir(cfg.DataDir), Logger: log})
	if err != nil {
		return nil, err
	}
	n.api, err = dashboard.New(&dashboard.Config{
		Store: n.store, Logger: log, Logs: n.disp.TaskLogs(),
		Secrets: credentialWriter{n.secrets}, Canceller: n.disp,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// start runs the dispatcher and serves the API until ctx ends, then shuts
// everything down in order.
func (n *node) start(ctx context.Context) error {
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen for the API on %s: %w (is another aegir running? use -http-addr)", n.cfg.HTTPAddr, err)
	}
	sites, err := net.Listen("tcp", n.cfg.SitesAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen for sites on %s: %w (is another aegir running? use -sites-addr)", n.cfg.SitesAddr, err)
	}
	if err := n.disp.Recover(ctx); err != nil {
		n.log.Warn("recovering tasks left running failed; will retry while running", "err", err)
	}
	errc := make(chan error, 3)
	go func() { errc <- n.disp.Run(ctx) }()
	go func() { errc <- n.api.Serve(ln) }()
	go func() { errc <- n.web.Serve(sites) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.api.Shutdown(shut)
	_ = n.web.Shutdown(shut)
	n.close()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (n *node) close() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		if err := n.closers[i](); err != nil {
			n.log.Warn("close", "err", err)
		}
	}
	n.closers = nil
}

// credentialWriter puts a database service's admin credentials into the
// secrets backend for the API.
type credentialWriter struct{ s secrets.Store }

func (w credentialWriter) PutServiceCredentials(ctx context.Context, serviceID, username, password string) error {
	return w.s.Put(ctx, secrets.ServiceAdminRef(serviceID), map[string]string{"username": username, "password": password})
}
