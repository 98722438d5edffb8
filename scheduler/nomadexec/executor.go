package nomadexec

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/jobspecs"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// Config configures an Executor.
type Config struct {
	// Client reaches Nomad. Default: a client for Address, Token, Region
	// and Namespace.
	Client *api.Client
	// Address, Token, Region and Namespace build the client when Client is
	// nil; empty ones take the Nomad API's defaults (NOMAD_ADDR ...).
	// Region and Namespace are also the jobs' region and namespace.
	Address, Token, Region, Namespace string
	// Datacenters the jobs may run in. Default ["dc1"].
	Datacenters []string
	// Binary is the aegir executable on the Nomad nodes. Default
	// "/usr/local/bin/aegir".
	Binary string
	// Artifact, when set, gives the URL of a tar.gz holding the aegir
	// binary and its checksum ("sha256:<hex>"): the jobs fetch it (the
	// jobspecs' aegir_artifact) instead of running Binary from the node.
	Artifact func() (url, checksum string, err error)
	// Driver runs the back end: "raw_exec" (default; it runs as root to
	// manage web and database servers), "exec" or "docker".
	Driver string
	// DataDir is aegir's per-server state dir on the nodes (the aegir-task
	// jobspec's data_dir). Default "/var/lib/aegir". The context's
	// Env.DataDir is what the back end uses; keep them equal.
	DataDir string
	// RedisAddr is how back ends on the nodes reach Redis, where they
	// stream their log and leave their result. Required unless every
	// context's Env.RedisAddr is set.
	RedisAddr string
	// RedisPrefix starts the Redis keys of logs and results; the same as
	// the log bus's and Results'. Default "aegir:".
	RedisPrefix string
	// Redis is how back ends log in to Redis: user name, password, db and
	// TLS, as aegir server's redis config (its Address is not used:
	// RedisAddr is). The password goes only into each aegir-task job's
	// Nomad Variable (TaskVarPath), never the job or the payload; the TLS
	// files must be at the same paths on the nodes. Default: no password,
	// plaintext.
	Redis config.RedisConfig
	// Results is where the executor reads what a back end left when its
	// allocation completes. Required; NewRedisResults.
	Results ResultStore
	// Bus is the task-log bus the dispatcher writes (dispatch.Config.Bus).
	// When a task ends without its back end's result in Redis and its log
	// has none of the back end's lines (its Redis sink failed), the
	// executor copies them there from the allocation's stderr first
	// (stderrlog.go). Default: none; they stay in the allocation's stderr.
	Bus logbus.Bus
	// JobVars sets other variables of the aegir-task jobspec (cpu, memory,
	// kill_timeout). Default none.
	JobVars map[string]any
	// APIAddr is the aegir API the periodic queue passes talk to (the
	// aegir-queue jobspec's aegir_addr). Default: the jobspec's.
	APIAddr string
	// QueueToken is the aegir API token the periodic queue passes send
	// (AEGIR_TOKEN): a queue user's (queue.NewJobToken; role queue, which
	// may only start and follow passes), or an admin's. RegisterQueueJobs
	// puts it in each queue job's Nomad Variable, nomad/jobs/<job id>, never
	// in the job, which anyone allowed to read jobs can read. Required to
	// register enabled queues, here or later with SetQueueToken.
	QueueToken string
	// MaxInFlight caps the dispatched back ends not yet finished: Nomad
	// holds every pending job in memory, so aegir queues the rest itself.
	// Start blocks (until its ctx ends) while the cap is reached, so the
	// task stays with aegir, never failed for it. Default 50.
	MaxInFlight int
	// PlacementTimeout fails a task Nomad has not placed on a node by then
	// (no eligible node, node down), with Nomad's reason. Default 2m.
	PlacementTimeout time.Duration
	// PurgeAfter is how long a finished dispatched job stays in Nomad
	// before RunPurge removes it. It must exceed any dispatch retry window:
	// the idempotency token lives with the job. Default 1h.
	PurgeAfter time.Duration
	// PurgeInterval is how often RunPurge looks. Default PurgeAfter/4.
	PurgeInterval time.Duration
	// ResultRetry is how long the result of an ended back end is read
	// again (with backoff) while Redis does not answer, before its task
	// fails bus_unavailable. Default 2m.
	ResultRetry time.Duration
	// Logger receives the executor's logs. Default: slog.Default().
	Logger *slog.Logger
}

// Executor runs each task's back end as a dispatched child of the
// per-server parameterized job aegir-task-<server>, on that server's Nomad
// node. See the package doc ("Nomad") for the model and failure modes.
type Executor struct {
	cfg   Config
	api   *api.Client
	log   *slog.Logger
	slots chan struct{}

	mu         sync.Mutex
	jobs       map[string]string // aegir-task job id → hash of the spec registered
	rendered   map[string]string // spec name + variables → hash of the rendered spec
	queueToken string            // Config.QueueToken or SetQueueToken's

	// redisVarsPut holds the aegir-task job ids whose Nomad Variable got
	// the Redis password from this process.
	redisVarsPut sync.Map
}

// Job meta keys aegir sets.
const (
	metaSpecHash = "aegir_spec_hash"
	metaTaskID   = "task_id"
	metaServer   = "aegir_server" // the aegir-task jobspec's
)

// New checks cfg, fills its defaults and returns the executor.
// It talks to Nomad only when used.
func New(cfg Config) (*Executor, error) {
	if cfg.Results == nil {
		return nil, errors.New("nomad executor: Results is required (NewRedisResults)")
	}
	if cfg.Client == nil {
		ac := api.DefaultConfig()
		if cfg.Address != "" {
			ac.Address = cfg.Address
		}
		if cfg.Token != "" {
			ac.SecretID = cfg.Token
		}
		if cfg.Region != "" {
			ac.Region = cfg.Region
		}
		if cfg.Namespace != "" {
			ac.Namespace = cfg.Namespace
		}
		c, err := api.NewClient(ac)
		if err != nil {
			return nil, fmt.Errorf("nomad executor: client for %s: %w", ac.Address, err)
		}
		cfg.Client = c
	}
	if len(cfg.Datacenters) == 0 {
		cfg.Datacenters = []string{"dc1"}
	}
	cfg.Binary = cmp.Or(cfg.Binary, "/usr/local/bin/aegir")
	cfg.Driver = cmp.Or(cfg.Driver, "raw_exec")
	cfg.DataDir = cmp.Or(cfg.DataDir, "/var/lib/aegir")
	cfg.RedisPrefix = cmp.Or(cfg.RedisPrefix, provision.DefaultRedisPrefix)
	cfg.MaxInFlight = cmp.Or(cfg.MaxInFlight, 50)
	cfg.PlacementTimeout = cmp.Or(cfg.PlacementTimeout, 2*time.Minute)
	cfg.PurgeAfter = cmp.Or(cfg.PurgeAfter, time.Hour)
	cfg.PurgeInterval = cmp.Or(cfg.PurgeInterval, cfg.PurgeAfter/4)
	cfg.ResultRetry = cmp.Or(cfg.ResultRetry, 2*time.Minute)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	return &Executor{
		cfg: cfg, api: cfg.Client, log: cfg.Logger.With("component", "nomad-executor"),
		slots: make(chan struct{}, cfg.MaxInFlight), jobs: map[string]string{}, rendered: map[string]string{}, queueToken: cfg.QueueToken,
	}, nil
}

// TaskJobID is the parameterized job of an aegir server.
func TaskJobID(serverName string) string { return jobspecs.Task + "-" + serverName }

// EnsureServerJob registers the server's aegir-task job, rendered from the
// embedded jobspec and parsed by Nomad's own /v1/jobs/parse, unless Nomad
// already has it as rendered now (a hash in the job's meta says so). It
// reports whether it registered. Start calls it (once per server and
// process); call it when a server is verified to find a bad node or
// jobspec before the first task.
func (e *Executor) EnsureServerJob(ctx context.Context, server provision.ServerInfo) (bool, error) {
	if server.NomadNode == "" {
		return false, noNodeError(server)
	}
	vars := map[string]any{
		"server_name": server.Name, "node_name": server.NomadNode, "datacenters": e.cfg.Datacenters,
		"driver": e.cfg.Driver, "aegir_binary": e.cfg.Binary, "data_dir": e.cfg.DataDir,
	}
	if e.cfg.RedisAddr != "" {
		vars["redis_addr"] = e.cfg.RedisAddr
	}
	if err := e.artifactVars(vars); err != nil {
		return false, err
	}
	if err := e.redisJobVars(ctx, TaskJobID(server.Name), vars); err != nil {
		return false, err
	}
	return e.ensureJob(ctx, jobspecs.Task, TaskJobID(server.Name), vars)
}

// artifactVars sets the jobspecs' aegir_artifact variables from
// Config.Artifact.
func (e *Executor) artifactVars(vars map[string]any) error {
	if e.cfg.Artifact == nil {
		return nil
	}
	url, sum, err := e.cfg.Artifact()
	if err != nil {
		return fmt.Errorf("the aegir binary for the jobs' artifact: %w", err)
	}
	vars["aegir_artifact"], vars["aegir_artifact_checksum"] = url, sum
	return nil
}

// ensureJob renders, parses and registers one job unless Nomad has it.
func (e *Executor) ensureJob(ctx context.Context, spec, jobID string, vars map[string]any) (bool, error) {
	for k, v := range e.cfg.JobVars {
		if _, set := vars[k]; !set && spec == jobspecs.Task {
			vars[k] = v
		}
	}
	if e.cfg.Region != "" {
		vars["region"] = e.cfg.Region
	}
	if e.cfg.Namespace != "" {
		vars["namespace"] = e.cfg.Namespace
	}
	// Rendering takes milliseconds (HCL): every Start asks, so the same
	// variables are rendered once and the job registered as rendered is
	// known without it.
	key := varsKey(spec, vars)
	e.mu.Lock()
	if h, ok := e.rendered[key]; ok && e.jobs[jobID] == h {
		e.mu.Unlock()
		return false, nil
	}
	e.mu.Unlock()
	hcl, err := jobspecs.Render(spec, vars)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(hcl)
	hash := hex.EncodeToString(sum[:12])

	e.mu.Lock()
	defer e.mu.Unlock()
	e.rendered[key] = hash
	if e.jobs[jobID] == hash {
		return false, nil
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	if cur, _, err := e.api.Jobs().Info(jobID, q); err == nil {
		if !boolOf(cur.Stop) && cur.Meta[metaSpecHash] == hash {
			e.jobs[jobID] = hash
			return false, nil
		}
	} else if !isNotFound(err) {
		return false, e.nomadErr(err, "read Nomad job "+jobID, e.needsCap("read-job"))
	}
	job, err := e.api.Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: string(hcl), Canonicalize: true})
	if err != nil {
		if err := e.nomadErr(err, "parse the "+spec+" jobspec for "+jobID, e.needsCap("parse-job")); errors.Is(err, ErrNomadPermissionDenied) {
			return false, err
		}
		return false, fmt.Errorf("Nomad refused the %s jobspec for %s: %w", spec, jobID, err)
	}
	// An HCL2 job's label (its ID) cannot hold variables: the jobspecs
	// put the per-server or per-queue ID in the job's name.
	if strOf(job.Name) != jobID {
		return false, fmt.Errorf("the %s jobspec rendered job name %q, not %q", spec, strOf(job.Name), jobID)
	}
	job.ID = job.Name
	if job.Meta == nil {
		job.Meta = map[string]string{}
	}
	job.Meta[metaSpecHash] = hash
	if _, _, err := e.api.Jobs().Register(job, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return false, e.nomadErr(err, "register Nomad job "+jobID, e.needsCap("submit-job"))
	}
	e.jobs[jobID] = hash
	e.log.Info("registered job", "job", jobID, "hash", hash)
	return true, nil
}

// varsKey names a rendering: the spec and its variables, in key order.
func varsKey(spec string, vars map[string]any) string {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(spec)
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s=%#v", k, vars[k])
	}
	return b.String()
}

// forget drops the cached registration of a job (someone removed it).
func (e *Executor) forget(jobID string) {
	e.mu.Lock()
	delete(e.jobs, jobID)
	e.mu.Unlock()
	e.redisVarsPut.Delete(jobID)
}

func noNodeError(s provision.ServerInfo) error {
	return fmt.Errorf("server %s has no Nomad node: set its nomad_node to the name of the Nomad client running on it (nomad node status), then retry the task", s.Name)
}

// taskServer is the server whose node runs the task: a server task's
// server, otherwise the target's web server.
func taskServer(task domain.Task, pc *provision.Context) (*provision.ServerInfo, error) {
	s := pc.WebServer
	if task.TargetKind == domain.TargetServer || s == nil {
		s = cmp.Or(pc.Server, pc.WebServer)
	}
	if s == nil {
		return nil, fmt.Errorf("the context of task %s names no server to run on", task.ID)
	}
	return s, nil
}

// Start dispatches the task's back end on its server's node. It blocks
// while MaxInFlight back ends are in flight. Dispatching twice with the
// same task id (a dispatcher that crashed after dispatching and retried)
// follows the one job Nomad already has: the task id is the idempotency
// token.
func (e *Executor) Start(ctx context.Context, task domain.Task, pctx []byte) (runner.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var pc provision.Context
	if err := json.Unmarshal(pctx, &pc); err != nil {
		return nil, fmt.Errorf("read the task's context: %w", err)
	}
	server, err := taskServer(task, &pc)
	if err != nil {
		return nil, err
	}
	if server.NomadNode == "" {
		return nil, noNodeError(*server)
	}
	pc.Env.LogSink, pc.Env.ResultSink = "redis", "redis"
	pc.Env.RedisAddr = cmp.Or(pc.Env.RedisAddr, e.cfg.RedisAddr)
	pc.Env.RedisPrefix = cmp.Or(pc.Env.RedisPrefix, e.cfg.RedisPrefix)
	if pc.Env.RedisAddr == "" {
		return nil, errors.New("the Nomad executor has no Redis address for the back end's log and result: set RedisAddr")
	}
	payload, err := json.Marshal(&pc)
	if err != nil {
		return nil, err
	}
	if len(payload) > provision.MaxContextSize {
		return nil, fmt.Errorf("the task's context is %d bytes, over Nomad's %d-byte dispatch payload limit: shorten the site's aliases or settings", len(payload), provision.MaxContextSize)
	}
	jobID := TaskJobID(server.Name)
	if _, err := e.EnsureServerJob(ctx, *server); err != nil {
		return nil, err
	}
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	resp, err := e.dispatch(ctx, jobID, task.ID, payload)
	if isNotFound(err) {
		// Someone removed the job since we registered it: again, once.
		e.forget(jobID)
		if _, err = e.EnsureServerJob(ctx, *server); err == nil {
			resp, err = e.dispatch(ctx, jobID, task.ID, payload)
		}
	}
	if err != nil {
		<-e.slots
		return nil, e.nomadErr(err, "dispatch "+jobID+" on Nomad", e.needsCap("dispatch-job"))
	}
	r := &nomadRun{
		e: e, taskID: task.ID, jobID: resp.DispatchedJobID, server: server.Name, node: server.NomadNode,
		slot: true, cancelCh: make(chan struct{}), done: make(chan struct{}), detachCh: make(chan struct{}),
	}
	e.log.Debug("dispatched", "task", task.ID, "job", r.jobID, "node", r.node)
	go r.follow()
	return r, nil
}

func (e *Executor) dispatch(ctx context.Context, jobID, taskID string, payload []byte) (*api.JobDispatchResponse, error) {
	resp, _, err := e.api.Jobs().DispatchOpts(&api.DispatchOptions{
		JobID: jobID, Meta: map[string]string{metaTaskID: taskID}, Payload: payload, IdPrefixTemplate: taskID,
	}, (&api.WriteOptions{IdempotencyToken: taskID}).WithContext(ctx))
	return resp, err
}

// nomadRunnerPrefix starts the runner handle of a dispatched job.
const nomadRunnerPrefix = "nomad:"

// Alive reports whether the dispatched job named by runner still has an
// allocation that has not ended, or is still waiting to be placed.
func (e *Executor) Alive(ctx context.Context, runner string) (bool, error) {
	jobID, ok := strings.CutPrefix(runner, nomadRunnerPrefix)
	if !ok || jobID == "" {
		return false, nil
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	allocs, _, err := e.api.Jobs().Allocations(jobID, true, q)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, a := range allocs {
		if !terminal(a.ClientStatus) {
			return true, nil
		}
	}
	if len(allocs) > 0 {
		return false, nil
	}
	job, _, err := e.api.Jobs().Info(jobID, q)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !boolOf(job.Stop) && strOf(job.Status) != "dead", nil
}

func terminal(clientStatus string) bool {
	switch clientStatus {
	case api.AllocClientStatusComplete, api.AllocClientStatusFailed, api.AllocClientStatusLost:
		return true
	}
	return false
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) {
		return ue.StatusCode() == 404
	}
	var up *api.UnexpectedResponseError
	if errors.As(err, &up) {
		return up.StatusCode() == 404
	}
	return false
}

func boolOf(b *bool) bool { return b != nil && *b }

func strOf(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
