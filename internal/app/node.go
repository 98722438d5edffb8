package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/atomicfile"
	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/notify"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/routing"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/localexec"
	"github.com/aegirhq/aegir/scheduler/nomadexec"
	"github.com/aegirhq/aegir/scheduler/queue"
	"github.com/aegirhq/aegir/scheduler/retention"
	"github.com/aegirhq/aegir/secrets"
)

// node is one aegir process's components: the store, the log bus and
// locks, the secrets backend, the dispatcher, and the API.
type node struct {
	cfg     *config.Config
	rdb     *redis.Client
	nomad   *nomadexec.Executor
	log     *slog.Logger
	store   *store.Store
	bus     logbus.Bus
	locker  locks.Locker
	secrets secrets.Store
	disp    *dispatch.Dispatcher
	queues  *queue.Queues
	routing *routing.Reconciler
	elector *locks.Elector // the dispatcher's leadership
	api     *dashboard.Server
	web     *builtinweb.Server
	// notifier delivers notifications; the leader runs it (lead).
	notifier *notify.Notifier
	closers  []func() error

	// queueChanged wakes the leader's followQueueSettings when this
	// process stored a queue's settings.
	queueChanged chan struct{}
	// listening, when set, is called once start listens on both
	// addresses, before it serves: the place for "is running", which a
	// busy port must not precede.
	listening func()

	// peers announces this server to the others sharing its Redis and
	// holds it back from leading while an older one is live (nil
	// without Redis: one process).
	peers *peers
	// binary is this server's own executable as served at BinaryPath.
	binary binaryArchive
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
	// A store written by a newer aegir is refused, not misread.
	if _, err := n.store.EnsureSchema(context.Background(), Version); err != nil {
		return nil, err
	}
	if cfg.Store.Backend == "consul" {
		// Publish enabled sites in Consul's catalog for a router in front
		// (Traefik's Consul Catalog conventions); see internal/routing.
		cc, err := consulapi.NewClient(&consulapi.Config{Address: cfg.Store.Consul.Address,
			Token: cfg.Store.Consul.Token, Datacenter: cfg.Store.Consul.Datacenter})
		if err != nil {
			return nil, fmt.Errorf("consul client for routing: %w", err)
		}
		// Instance: another aegir on this Consul (another KV prefix)
		// publishes its own sites, which this one must leave alone.
		n.routing, err = routing.New(routing.Config{Store: n.store, Consul: cc, Logger: log, Instance: cfg.Store.Consul.Prefix})
		if err != nil {
			return nil, err
		}
	}

	if cfg.Redis.Address == "" {
		// One process: the in-process bus and locks.
		n.bus = logbus.NewMemory(nil)
		n.locker = locks.NewMemory()
	} else {
		// Several processes share live logs and locks through Redis. Every
		// blocked log follower holds a connection, hence the pool size.
		opts, err := cfg.Redis.ClientOptions()
		if err != nil {
			return nil, err
		}
		opts.ContextTimeoutEnabled, opts.PoolSize = true, 256
		rdb := redis.NewClient(opts)
		n.rdb = rdb
		n.closers = append(n.closers, rdb.Close)
		// Wrong credentials or TLS stop the start; a Redis that is down
		// may come back, and the bus and locks retry.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = cfg.Redis.CheckRedis(ctx, rdb)
		cancel()
		if errors.Is(err, config.ErrRedisRefused) {
			return nil, err
		} else if err != nil {
			log.Warn("redis is not reachable yet; live logs and locks wait for it", "err", err)
		}
		// Writers go through a buffer that re-sends what a Redis restart
		// lost, so a task's log stays whole.
		buffered := logbus.NewBufferedBus(logbus.NewRedis(rdb, nil), nil)
		// Closed before the Redis client (closers run last first), after
		// sending the lines written just before the stop: the dispatcher's
		// note that it handed a running task over is its last.
		n.closers = append(n.closers, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), logDrainTime)
			defer cancel()
			return buffered.Shutdown(ctx)
		})
		n.bus = buffered
		n.locker = locks.NewRedis(rdb, &locks.RedisConfig{Logger: log})
	}

	env := provision.EnvInfo{
		DataDir:        cfg.DataDir,
		BackupDir:      cfg.BackupDir,
		ArchiveFormat:  cfg.BackupArchiveFormat,
		SecretsBackend: cfg.Secrets.Backend,
		TLS: provision.TLSInfo{Issuer: cfg.TLS.Issuer, ACMEDirectory: cfg.TLS.ACMEDirectory, ACMEEmail: cfg.TLS.ACMEEmail,
			ACMERootsFile: cfg.TLS.ACMERootsFile, RenewWindow: cfg.TLS.RenewWindow},
	}
	var backendEnv []string
	switch cfg.Secrets.Backend {
	case "file":
		n.secrets, err = secrets.OpenFile(filepath.Join(cfg.DataDir, "secrets"))
	case "vault":
		v := cfg.Secrets.Vault
		vs, verr := secrets.NewVault(secrets.VaultConfig{Addr: v.Address, Mount: v.Mount, Prefix: v.Prefix,
			RoleIDFile: v.RoleIDFile, SecretIDFile: v.SecretIDFile, Logger: log})
		if verr == nil {
			n.secrets = vs
			n.closers = append(n.closers, vs.Close)
		}
		err = verr
		env.VaultAddr, env.VaultMount, env.VaultPrefix = v.Address, v.Mount, v.Prefix
		if v.BackendRoleIDFile != "" {
			backendEnv = append(backendEnv, "AEGIR_VAULT_ROLE_ID_FILE="+v.BackendRoleIDFile, "AEGIR_VAULT_SECRET_ID_FILE="+v.BackendSecretIDFile)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open the %s secrets backend: %w", cfg.Secrets.Backend, err)
	}

	var exec dispatch.Executor
	switch cfg.Executor.Kind {
	case "local":
		// On a clean stop each back end gets SIGTERM and stop_timeout to
		// roll back before SIGKILL.
		exec, err = localexec.New(localexec.Config{Bus: n.bus, Env: backendEnv, KillGrace: cfg.StopTimeoutDuration(), Logger: log})
	case "nomad":
		// Back ends run as dispatched jobs on each server's Nomad node and
		// report through Redis (config validation requires it).
		n.nomad, err = nomadexec.New(nomadexec.Config{
			Address: cfg.Nomad.Address, Token: cfg.Nomad.Token, Region: cfg.Nomad.Region, Namespace: cfg.Nomad.Namespace,
			Datacenters: cfg.Nomad.Datacenters, Binary: cfg.Nomad.Binary, DataDir: cfg.DataDir,
			RedisAddr: cfg.Redis.Address, Redis: cfg.Redis, Results: nomadexec.NewRedisResults(n.rdb, ""),
			Bus:     n.bus, // a back end's lines its Redis sink failed to send are copied from its stderr
			APIAddr: cfg.Nomad.APIAddr, MaxInFlight: cfg.Executor.MaxParallel, Logger: log,
			JobVars:  nomadJobVars(cfg),
			Artifact: n.binaryArtifact(),
		})
		exec = n.nomad
	}
	if err != nil {
		return nil, err
	}
	// The periodic queues (cron, backup, stats) queue their work as tasks;
	// wrapping the executor lets them keep each run's output and figures.
	n.queueChanged = make(chan struct{}, 1)
	// Failed tasks and failing queue sites go to the notifications'
	// outbox; the leader's notifier delivers them.
	events := notify.Emitter{Store: n.store}
	if n.notifier, err = newNotifier(cfg, n.store, n.secrets, log); err != nil {
		return nil, err
	}
	// The queues also warn of certificates about to expire and clients
	// near their disk quota (certificate_expiring, disk_low).
	quotaDefaults, err := cfg.Quotas.Limits()
	if err != nil {
		return nil, err
	}
	n.queues, err = queue.New(queue.Config{Store: n.store, Locker: n.locker, Logger: log, Events: events, RenewWindow: cfg.RenewWindowDuration(),
		QuotaDefaults: quotaDefaults,
		OnSettings:    func(string, queue.Settings) { n.queueSettingsChanged() }})
	if err != nil {
		return nil, err
	}
	n.closers = append(n.closers, func() error { n.queues.Close(); return nil }) // passes started through the API
	// A migrate's old place waits for the router in front (routing on).
	var router dispatch.Router
	if n.routing != nil {
		router = n.routing
	}
	n.disp, err = dispatch.New(dispatch.Config{
		Store: n.store, Executor: n.queues.Observe(exec), Bus: n.bus, Locker: n.locker,
		MaxParallel: cfg.Executor.MaxParallel, TaskTimeout: cfg.TaskTimeoutDuration(),
		// A task's lock lasts as long as the leadership: the next leader
		// follows a killed one's running tasks within leader_ttl, not the
		// locks' default 30 s.
		LockTTL: cfg.LeaderTTLDuration(),
		Env:     env,
		KeepDir: filepath.Join(cfg.DataDir, "unrecorded"), // results the store did not take before a stop
		Router:  router, RouterGrace: cfg.ReleaseGraceDuration(), RouterWait: cfg.ReleaseWaitDuration(),
		Logger: log,
		Events: events,
	})
	if err != nil {
		return nil, err
	}
	httpsPort := 0
	if cfg.TLS.SitesAddr != "" {
		_, p, _ := net.SplitHostPort(cfg.TLS.SitesAddr)
		httpsPort, _ = strconv.Atoi(p)
	}
	n.web, err = builtinweb.New(builtinweb.Config{RoutesDir: builtinweb.RoutesDir(cfg.DataDir), HTTPSPort: httpsPort, Logger: log})
	if err != nil {
		return nil, err
	}
	if cfg.TLS.Issuer == "local" {
		// Made now, so back ends find it and the dashboard can offer
		// its root for download.
		if _, err := provision.EnsureLocalCA(context.Background(), n.secrets, time.Now()); err != nil {
			return nil, fmt.Errorf("local CA: %w", err)
		}
	}
	sessionKey, err := loadOrCreateKey(filepath.Join(cfg.DataDir, "session-key"))
	if err != nil {
		return nil, fmt.Errorf("dashboard session key: %w", err)
	}
	// One dispatcher in a cluster: whoever holds the "dispatcher" lease
	// runs it (start); the status view says whether this process does.
	n.elector = locks.NewElector(n.locker, "dispatcher", cfg.LeaderTTLDuration(), log)
	if n.rdb != nil {
		// Rolling upgrades: a newer server leaves the lead to an older
		// one while any is live (peers.go).
		n.peers = newPeers(n.rdb, cfg.Store.Consul.Prefix, cfg.HTTPAddr, max(cfg.LeaderTTLDuration()/2, time.Second), n.elector.IsLeader, log)
		n.elector.Hold = n.peers.hold
	}
	quotas, err := cfg.Quotas.Limits()
	if err != nil {
		return nil, err
	}
	var limiter dashboard.LoginLimiter // in memory unless Redis is shared
	if n.rdb != nil {
		limiter = dashboard.NewRedisLimiter(dashboard.RedisLimiterConfig{Client: n.rdb, Logger: log})
	}
	n.api, err = dashboard.New(&dashboard.Config{
		SessionKey: sessionKey,
		Store:      n.store, Logger: log, Logs: n.disp.TaskLogs(),
		Secrets: credentialWriter{n.secrets}, Canceller: n.disp, Queues: n.queues, LoginLimiter: limiter,
		StatusChecks: n.statusChecks(), Leader: n.elector.IsLeader, Version: Version,
		SessionIdle: cfg.SessionIdleDuration(), SessionMax: cfg.SessionMaxDuration(), TrustedProxies: cfg.TrustedProxyPrefixes(),
		MaxTokenTTL: cfg.MaxTokenTTLDuration(), ImportDir: cfg.ImportDir(), MaxImportSize: cfg.MaxImportSize(),
		Quotas: quotas, LocalCARoot: n.localCARoot(),
		// Every server serves its own binary for the Nomad jobs' artifact.
		Public: map[string]fiber.Handler{BinaryPath: n.binary.serve},
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// binaryArtifact is the executor's Artifact with nomad.binary_from_servers:
// this server's own archive, at its api_addr; nil otherwise.
func (n *node) binaryArtifact() func() (string, string, error) {
	if !n.cfg.Nomad.BinaryFromServers {
		return nil
	}
	return func() (string, string, error) {
		_, sum, err := n.binary.get()
		return strings.TrimSuffix(n.cfg.Nomad.APIAddr, "/") + BinaryPath, sum, err
	}
}

// start runs the dispatcher and serves the API until ctx ends, then shuts
// everything down in order.
func (n *node) start(ctx context.Context) error {
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		n.close()
		return fmt.Errorf("listen for the API on %s: %w (is another aegir running? use -http-addr)", n.cfg.HTTPAddr, err)
	}
	sites, err := net.Listen("tcp", n.cfg.SitesAddr)
	if err != nil {
		ln.Close()
		n.close()
		return fmt.Errorf("listen for sites on %s: %w (is another aegir running? use -sites-addr)", n.cfg.SitesAddr, err)
	}
	var sitesTLS net.Listener
	if n.cfg.TLS.SitesAddr != "" {
		if sitesTLS, err = net.Listen("tcp", n.cfg.TLS.SitesAddr); err != nil {
			ln.Close()
			sites.Close()
			n.close()
			return fmt.Errorf("listen for HTTPS sites on %s: %w (is another aegir running? use -sites-tls-addr)", n.cfg.TLS.SitesAddr, err)
		}
	}
	if n.listening != nil {
		n.listening()
	}
	errc := make(chan error, 4)
	// One dispatcher in a cluster: whoever holds the "dispatcher" lease runs
	// it (and recovers tasks whose runner is gone); the others serve the API
	// and take over within the lease time when the leader dies.
	leadCtx, stopLeading := context.WithCancel(ctx)
	defer stopLeading()
	announced := make(chan struct{})
	go func() {
		defer close(announced)
		if n.peers != nil {
			n.peers.run(leadCtx)
		}
	}()
	led := make(chan struct{})
	go func() {
		defer close(led)
		errc <- n.elector.Run(leadCtx, func(ctx context.Context) { n.lead(ctx, leadCtx) })
	}()
	go func() { errc <- n.api.Serve(ln) }()
	go func() { errc <- n.web.Serve(sites) }()
	if sitesTLS != nil {
		go func() { errc <- n.web.ServeTLS(sitesTLS) }()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// The leader's work stops first, while the API drains: the dispatcher
	// hands its running Nomad tasks over, or stops its local back ends
	// (SIGTERM, stop_timeout to roll back, then SIGKILL) and records how
	// their tasks ended; it releases their locks and its leadership
	// through Redis. All of that needs the store and Redis, so they close
	// only after lead has returned (or after stopTimeout + stopRecordTime,
	// when a task stays running for the next leader to find).
	stopLeading()
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.api.Shutdown(shut)
	_ = n.web.Shutdown(shut)
	wait := time.NewTimer(n.cfg.StopTimeoutDuration() + stopRecordTime)
	defer wait.Stop()
	select {
	case <-led:
	case <-wait.C:
		n.log.Warn("the leader's work did not stop in time; closing anyway (its tasks are recovered by the next leader)",
			"stop_timeout", n.cfg.StopTimeoutDuration())
	}
	<-announced // withdrawn, or given up after 2 s
	n.close()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// stopRecordTime is how long a clean stop waits, after stop_timeout, for
// the stopped tasks' results to be recorded and their logs archived.
const stopRecordTime = 15 * time.Second

// logDrainTime is how long closing waits for the live log lines still
// queued to reach Redis (a Redis that does not answer then); the lines
// still unsent are dropped, with a warning saying how many.
const logDrainTime = 5 * time.Second

// lead is the leader's work, while this process holds the dispatcher's
// leadership: the dispatcher, and beside it Nomad's purge and the queue
// jobs' registration, task retention, the notifications' delivery, the
// routing reconciler and (without Nomad's periodic jobs) the queues'
// passes. It is their one owner: it returns only when all of them have
// returned after ctx ended, so nothing of the leader's outlives the store
// and Redis it writes to.
//
// ctx ends when the process stops (running is done then too), when the
// leadership is lost (Redis did not renew its lease), or when this process
// steps down for an older server (locks.ErrSteppedDown): the dispatcher
// is told which (dispatch.ErrLeadershipLost, dispatch.ErrSteppedDown), so
// the tasks it stops say why.
func (n *node) lead(ctx, running context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	dispCtx, stopDispatching := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopDispatching(nil)
	defer context.AfterFunc(ctx, func() {
		switch {
		case running.Err() != nil:
			stopDispatching(context.Canceled)
		case errors.Is(context.Cause(ctx), locks.ErrSteppedDown):
			// An older server is live (peers.hold): its work stops as on
			// a stop, and the tasks it stops say why.
			stopDispatching(fmt.Errorf("%w: %w", dispatch.ErrSteppedDown, context.Cause(ctx)))
		default:
			stopDispatching(dispatch.ErrLeadershipLost)
		}
	})()
	n.log.Info("leading: this process dispatches tasks")
	if n.peers != nil {
		_ = n.peers.announce(ctx) // the others' status says who leads at once
	}
	// Under Nomad the queues' periodic jobs start the passes; this
	// process runs them itself only when it could not register those
	// jobs (else every pass would run twice per interval).
	nomadQueues := false
	if n.nomad != nil {
		wg.Go(func() { n.nomad.RunPurge(ctx) })
		if jobs, err := n.registerQueueJobs(ctx); err != nil {
			n.log.Error("register the periodic queue jobs in Nomad; this process runs the queue passes itself meanwhile", "err", err)
		} else {
			nomadQueues = true
			wg.Go(func() { n.followQueueSettings(ctx, jobs) })
		}
	}
	wg.Go(func() {
		retention.Run(ctx, n.store, n.disp.Archive(), retention.Policy{KeepAudit: n.cfg.AuditRetentionDuration()}, n.log)
	})
	wg.Go(func() {
		if err := n.notifier.Run(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("notifications stopped", "err", err)
		}
	})
	if n.routing != nil {
		wg.Go(func() {
			if err := n.routing.Run(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("routing reconciler stopped", "err", err)
			}
		})
	}
	// Without Nomad's periodic jobs the leader runs the queues' passes on
	// their intervals. A pass holds its queue's lock, so one started by
	// hand (aegir queue run) never overlaps it.
	if !nomadQueues {
		wg.Go(func() {
			if err := n.queues.Run(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("periodic queues stopped", "err", err)
			}
		})
	}
	if err := n.disp.Run(dispCtx); err != nil {
		n.log.Error("dispatcher stopped", "err", err)
	}
	n.log.Info("no longer leading: another process dispatches")
}

func (n *node) close() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		if err := n.closers[i](); err != nil {
			n.log.Warn("close", "err", err)
		}
	}
	n.closers = nil
}

// registerQueueJobs registers the periodic queue jobs in Nomad with a fresh
// API token for them, of the queue user (role queue: it may only start and
// follow queue passes), kept in Nomad Variables rather than the job spec,
// and revokes the tokens earlier leaders made. Only the leader calls it,
// so no process revokes a token the current leader's variables still hold.
//
// It returns the jobs it registered, for followQueueSettings.
func (n *node) registerQueueJobs(ctx context.Context) ([]nomadexec.QueueSettings, error) {
	jobs, err := n.queueJobs(ctx)
	if err != nil {
		return nil, err
	}
	tokID, secret, err := queue.NewJobToken(ctx, n.store)
	if err != nil {
		return nil, err
	}
	n.nomad.SetQueueToken(secret)
	if err := n.nomad.RegisterQueueJobs(ctx, jobs); err != nil {
		return nil, err // keep the new token: some variables may hold it already
	}
	if err := queue.RevokeJobTokens(ctx, n.store, tokID); err != nil {
		n.log.Warn("revoke the queue jobs' old tokens", "err", err)
	}
	return jobs, nil
}

// loadOrCreateKey returns the 32-byte key in path, creating it (mode 0600)
// on first use, so open dashboard forms (CSRF tokens) survive a restart. Several aegir
// servers share one key by sharing the file.
func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, key, 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

// credentialWriter puts a database service's admin credentials into the
// secrets backend for the API.
type credentialWriter struct{ s secrets.Store }

// PutSiteCertificate keeps an uploaded certificate as the site's
// (control.CertificateWriter).
func (w credentialWriter) PutSiteCertificate(ctx context.Context, siteID string, certPEM, keyPEM []byte) error {
	return w.s.Put(ctx, secrets.SiteCertRef(siteID), map[string]string{"cert": string(certPEM), "key": string(keyPEM), "issuer": domain.IssuerUploaded})
}

func (w credentialWriter) PutServiceCredentials(ctx context.Context, serviceID, username, password string) error {
	return w.s.Put(ctx, secrets.ServiceAdminRef(serviceID), map[string]string{"username": username, "password": password})
}

func (w credentialWriter) PutWebhookSecret(ctx context.Context, subscriptionID, secret string) error {
	return w.s.Put(ctx, secrets.WebhookSecretRef(subscriptionID), map[string]string{"secret": secret})
}

func (w credentialWriter) DeleteWebhookSecret(ctx context.Context, subscriptionID string) error {
	err := w.s.Delete(ctx, secrets.WebhookSecretRef(subscriptionID))
	if errors.Is(err, secrets.ErrNotFound) {
		return nil
	}
	return err
}

// newNotifier builds the notifications' notifier from the config's
// notifications block.
func newNotifier(cfg *config.Config, st *store.Store, sec secrets.Store, log *slog.Logger) (*notify.Notifier, error) {
	nc := cfg.Notifications
	var mail *notify.Mail
	if s := nc.SMTP; s != nil {
		tlsConf, err := s.TLSConfig()
		if err != nil {
			return nil, err
		}
		password, err := s.Password()
		if err != nil {
			return nil, err
		}
		mail = &notify.Mail{Address: s.Address, From: s.From, Username: s.Username, Password: password, TLS: tlsConf}
	}
	return notify.New(notify.Config{Store: st, Secrets: notify.StoredSecrets{Store: sec}, Mail: mail,
		DigestThreshold: nc.DigestThreshold, DigestWindow: cfg.DigestWindowDuration(),
		AllowPrivate: nc.WebhookPrivateAddresses, Logger: log})
}

// localCARoot reads the local CA's root for the dashboard's download; nil
// unless the local issuer is configured.
func (n *node) localCARoot() func(ctx context.Context) ([]byte, error) {
	if n.cfg.TLS.Issuer != "local" {
		return nil
	}
	return func(ctx context.Context) ([]byte, error) {
		v, err := n.secrets.Get(ctx, secrets.LocalCARef)
		if err != nil {
			return nil, err
		}
		return []byte(v["cert"]), nil
	}
}
