package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/platform"
	"github.com/aegirhq/aegir/secrets"
)

// Runner runs one task from a context and produces its result. It is what
// Main runs; tests and benchmarks use it directly.
type Runner struct {
	Deps Deps
	// Log receives the task's log lines. Build it with NewLogger so secret
	// values are redacted. Default: discard.
	Log *slog.Logger
	// Redactor collects the secret values the task resolves. Default: a
	// new one (then only the result is redacted, not Log).
	Redactor *Redactor
	// CheckTimeout bounds how long a task waits for a site to answer as
	// expected after publishing it (the builtin server picks up new routes
	// within about a second). Default 20 s.
	CheckTimeout time.Duration
	// RollbackTimeout bounds the undo steps after a failure or cancel; they
	// run even when the task's context is cancelled. Default 2 min.
	RollbackTimeout time.Duration
	// ProgressInterval is how often a long step (backup, unpack, database
	// load, file copy) logs how far it has got (progress.go). Default
	// DefaultProgressInterval, 5 s.
	ProgressInterval time.Duration
	// JanitorInterval is how often the backup directory is swept for the
	// archive temp files of dead tasks (janitor.go), tracked by a stamp
	// file in it; the sites directories a task names are swept before
	// every task. Default DefaultJanitorInterval, 10 min; negative: before
	// every task.
	JanitorInterval time.Duration
	// ClockSkew is how much older than the context's live-task list a
	// leftover must be before the janitor removes it, for a dispatcher and
	// a server whose clocks differ. Default DefaultClockSkew, 2 min;
	// negative: none.
	ClockSkew time.Duration
}

// job is the state of one running task.
type job struct {
	c       *Context
	log     *slog.Logger
	red     *Redactor
	deps    Deps
	runner  *Runner
	secrets secrets.Store
	res     *Result
	http    *http.Client
	started time.Time
	// expect is the expect check of each domain this job published, for
	// waitAnswer (services.go).
	expect map[string]*platform.Expect
}

// Run runs the task in c and returns its result; it never panics and
// always returns a result.
func (r *Runner) Run(ctx context.Context, c *Context) (res Result) {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	red := r.Redactor
	if red == nil {
		red = NewRedactor()
	}
	log = log.With("task", c.Task.ID)
	res = Result{Version: ContextVersion, TaskID: c.Task.ID, Status: domain.TaskSucceeded}
	j := &job{c: c, log: log, red: red, deps: r.Deps, runner: r, res: &res, started: time.Now()}
	j.http = cmp.Or(r.Deps.HTTPClient, &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	})
	defer func() {
		if p := recover(); p != nil {
			log.Error("the back end panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res.Status = domain.TaskFailed
			res.ErrorCode = CodeInternal
			res.Explanation = fmt.Sprintf("The back end stopped on an internal error while running %s: %v. What the task had changed may not have been rolled back.", c.Task.Type, p)
			res.FixHint = "Run verify on the site or platform to see its state, and report this as a bug with the task's log."
		}
		red.Result(&res)
	}()

	log.Info("task started", "type", string(c.Task.Type), "target", j.targetName())
	err := j.run(ctx)
	if err != nil {
		f := asFailure(err, CodeInternal, "Report this as a bug with the task's log.", "The task failed unexpectedly")
		if ctx.Err() != nil && f.Code != CodeRollbackIncomplete {
			f = &Failure{Code: CodeCancelled,
				Explanation: fmt.Sprintf("The task was cancelled (by an operator, its timeout, or the runner shutting down) after %s; the steps it had taken were rolled back. It was doing: %s", time.Since(j.started).Round(time.Millisecond), f.Explanation),
				FixHint:     "Run the task again when you are ready; if it timed out, raise the task timeout.", Err: err}
		}
		res.Status = domain.TaskFailed
		res.ErrorCode, res.Explanation, res.FixHint = f.Code, f.Explanation, f.FixHint
		res.Summary = ""
		log.Error("task failed", "code", f.Code, "explanation", red.String(f.Explanation), "fix", f.FixHint)
		return res
	}
	log.Info("task succeeded", "summary", res.Summary, "elapsed", time.Since(j.started).String())
	return res
}

func (j *job) run(ctx context.Context) error {
	h, ok := handlers[j.c.Task.Type]
	if !ok {
		return failf(CodeContextInvalid, "Run a back end of the same aegir release as the front end.", nil,
			"This back end does not know task type %q", j.c.Task.Type)
	}
	if err := validateContext(j.c); err != nil {
		return err
	}
	if j.c.Env.BackupDir == "" {
		j.c.Env.BackupDir = j.c.Env.DataDir + "/backups"
	}
	j.sweep(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	return h(ctx, j)
}

func (j *job) targetName() string {
	switch {
	case j.c.Site != nil:
		return j.c.Site.Domain
	case j.c.Platform != nil:
		return j.c.Platform.Name
	case j.c.Server != nil:
		return j.c.Server.Name
	}
	return ""
}

// openSecrets opens the secrets backend once.
func (j *job) openSecrets() (secrets.Store, error) {
	if j.secrets != nil {
		return j.secrets, nil
	}
	if j.deps.OpenSecrets == nil {
		return nil, failf(CodeSecretsUnavailable, "This is a wiring bug in the aegir binary; report it.", nil,
			"The back end was built without a secrets backend")
	}
	s, err := j.deps.OpenSecrets(j.c.Env)
	if err != nil {
		return nil, failf(CodeSecretsUnavailable,
			secretsHint(err, "Check that the secrets backend is reachable: for the file backend, that the data dir is readable by the user running aegir; for Vault, the address and VAULT_TOKEN."),
			err, "The secrets backend (%s) could not be opened", cmp.Or(j.c.Env.SecretsBackend, "file"))
	}
	j.secrets = s
	return s, nil
}

// secretRef returns the context's reference for purpose, or def.
func (j *job) secretRef(purpose, def string) string {
	if r := j.c.Secrets[purpose]; r != "" {
		return r
	}
	return def
}

// getSecret reads a secret and registers its values for redaction.
func (j *job) getSecret(ctx context.Context, ref string) (map[string]string, error) {
	s, err := j.openSecrets()
	if err != nil {
		return nil, err
	}
	v, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	for k, val := range v {
		if _, public := publicSecretFields[k]; !public {
			j.red.Add(val)
		}
	}
	return v, nil
}

// publicSecretFields are fields kept beside secrets that are not secret
// themselves: redacting them hid ordinary words from every log and summary
// (a site certificate's issuer "local" turned hello.localhost into
// hello.[redacted]host; a database user named like its database hid the
// database's name).
var publicSecretFields = map[string]struct{}{"username": {}, "issuer": {}, "cert": {}}

// rollback runs undo steps on a context that survives cancellation and
// adds what could not be undone to the failure.
func (j *job) rollback(ctx context.Context, u *undo, err error) error {
	if u.empty() {
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(j.runner.RollbackTimeout, 2*time.Minute))
	defer cancel()
	j.log.Warn("rolling back", "steps", len(u.steps))
	uerr := u.run(rctx, j.log)
	if uerr == nil {
		return err
	}
	f := asFailure(err, CodeInternal, "", "The task failed")
	return &Failure{
		Code:        CodeRollbackIncomplete,
		Explanation: f.Explanation + ". Undoing the steps already taken also failed: " + uerr.Error(),
		FixHint:     "Fix the cause, then run verify on the site (or delete it) to bring it to a known state. " + f.FixHint,
		Err:         errors.Join(err, uerr),
	}
}

// undo is a stack of steps that reverse what a task did.
type undo struct {
	steps []undoStep
}

type undoStep struct {
	what string
	fn   func(context.Context) error
}

func (u *undo) push(what string, fn func(context.Context) error) {
	u.steps = append(u.steps, undoStep{what, fn})
}

func (u *undo) empty() bool { return len(u.steps) == 0 }

// run undoes the steps in reverse order, continuing past failures.
func (u *undo) run(ctx context.Context, log *slog.Logger) error {
	var errs []error
	for i := len(u.steps) - 1; i >= 0; i-- {
		s := u.steps[i]
		if err := s.fn(ctx); err != nil {
			log.Error("undo step failed", "step", s.what, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", s.what, err))
			continue
		}
		log.Info("undone", "step", s.what)
	}
	u.steps = nil
	return errors.Join(errs...)
}
