package provision

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/secrets"
)

// Deps are what the back end is built with: the drivers compiled into this
// binary and how to open the secrets backend. The lead's command wiring
// fills them; tests fill them with the same real drivers.
type Deps struct {
	// Web and DB map a service kind to the factory of its driver.
	Web map[domain.ServiceKind]WebFactory
	DB  map[domain.ServiceKind]DBFactory
	// OpenSecrets opens the secrets backend the context's Env names.
	OpenSecrets func(env EnvInfo) (secrets.Store, error)
	// Version is aegir's version, written into backup manifests.
	Version string
	// HTTPClient sends the checks that a site answers. Default: a client
	// with a 5 s timeout that does not follow redirects.
	HTTPClient *http.Client
}

const usage = `aegir provision: the back end. It runs one task and prints its result.

Usage:
  aegir provision run --context FILE     run the task described by FILE
  aegir provision run --context -        read the context from stdin
  aegir provision example-context        print a sample context to start from

The context is one JSON document (schema version %d, at most %d KiB): the task
and its target with every relationship resolved, and references to secrets,
never secret values. The dispatcher builds it for every task; to run a task by
hand, start from "aegir provision example-context", or copy the context of a
previous task, edit it, and run:

  aegir provision run --context ctx.json > result.json

Output:
  stdout  exactly one JSON result: {"version","task_id","status":"succeeded"|
          "failed","error_code","explanation","fix_hint","summary","changes"}.
          The back end never writes the entity store: the dispatcher applies
          "changes" (site status, new sites, backups, packages ...). When you
          run it by hand, nothing applies them; apply them yourself through the
          API if you need to.
  stderr  the task's log, one JSON object per line:
          {"time":"...","level":"info|warn|error|debug","msg":"..."}.
          Secret values are replaced by "[redacted]" everywhere.

Exit status: 0 when a result was written (even for a failed task), 1 when no
result could be produced, 2 for a usage error.

Flags:
  --context FILE   the context document ("-" for stdin)
  --debug          log at debug level
`

// Main is "aegir provision ...": args are the arguments after "provision".
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, deps Deps) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, ContextVersion, MaxContextSize*4/1024)
		return 2
	}
	switch args[0] {
	case "run":
		args = args[1:]
	case "example-context":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(ExampleContext()); err != nil {
			return 1
		}
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprintf(stdout, usage, ContextVersion, MaxContextSize*4/1024)
		return 0
	}
	fs := flag.NewFlagSet("aegir provision run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, usage, ContextVersion, MaxContextSize*4/1024) }
	file := fs.String("context", "", "context document (- for stdin)")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "aegir provision run: give the context with --context FILE (or - for stdin); see aegir provision --help")
		return 2
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	red := NewRedactor()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	sink := &redisSink{} // Nomad: log and result also to Redis (Env.LogSink, Env.ResultSink)
	log := NewLogger(io.MultiWriter(stderr, sink), red, level)

	var in io.Reader = stdin
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			log.Error("cannot open the context file", "err", err)
			return writeResult(stdout, red, Result{Version: ContextVersion, Status: domain.TaskFailed,
				ErrorCode: CodeContextInvalid, Explanation: "The context file could not be opened: " + err.Error(),
				FixHint: "Check the path given to --context."})
		}
		defer f.Close()
		in = f
	}
	c, err := DecodeContext(in)
	if errors.Is(err, ErrVersionMismatch) {
		log.Error("context of another aegir release", "err", err)
		return writeResult(stdout, red, Result{Version: ContextVersion, Status: domain.TaskFailed,
			ErrorCode: CodeVersionMismatch, Explanation: "The back end cannot run this task: " + err.Error() + ".",
			FixHint: "Install the aegir release the servers run on this node (nomad.binary, or the binary the local executor runs), then retry the task."})
	}
	if err != nil {
		log.Error("invalid context", "err", err)
		return writeResult(stdout, red, Result{Version: ContextVersion, Status: domain.TaskFailed,
			ErrorCode: CodeContextInvalid, Explanation: "The context document was refused: " + err.Error(),
			FixHint: "Fix the context (see aegir provision example-context), or if the dispatcher built it, report a bug with the task id."})
	}
	if err := sink.open(c.Env, c.Task.ID); err != nil {
		log.Error("cannot send the log and result to redis", "err", err)
	}
	r := &Runner{Deps: deps, Log: log, Redactor: red}
	res := runUnlessAbandoned(ctx, r, c, sink, log)
	sink.finish(ctx, red, res, log)
	return writeResult(stdout, red, res)
}

func writeResult(w io.Writer, red *Redactor, res Result) int {
	red.Result(&res)
	enc := json.NewEncoder(w)
	if err := enc.Encode(res); err != nil {
		return 1
	}
	return 0
}

// ExampleContext is a sample install context for a static site on the
// embedded defaults (builtin web server, SQLite), for people running the
// back end by hand.
func ExampleContext() *Context {
	return &Context{
		Version: ContextVersion,
		Task:    TaskInfo{ID: "01j00000000000000000", Type: domain.TaskInstall, RequestedBy: "admin"},
		Site:    &SiteInfo{ID: "01j00000000000000001", Domain: "example.com", Aliases: []string{"www.example.com"}, Status: domain.SitePending},
		Client:  &ClientInfo{ID: "01j00000000000000002", Name: "acme"},
		Platform: &PlatformInfo{ID: "01j00000000000000003", Name: "static1",
			Path: "/var/lib/aegir/platforms/static1", Type: domain.PlatformStatic},
		WebServer:  &ServerInfo{ID: "01j00000000000000004", Name: "local", Address: "127.0.0.1"},
		WebService: &ServiceInfo{ID: "01j00000000000000005", ServerID: "01j00000000000000004", Type: domain.ServiceHTTP, Kind: domain.KindBuiltin, Port: 8080},
		DBServer:   &ServerInfo{ID: "01j00000000000000004", Name: "local", Address: "127.0.0.1"},
		DBService:  &ServiceInfo{ID: "01j00000000000000006", ServerID: "01j00000000000000004", Type: domain.ServiceDB, Kind: domain.KindSQLite},
		Secrets: map[string]string{
			"db_admin": secrets.ServiceAdminRef("01j00000000000000006"),
			"site_db":  secrets.SiteDBRef("01j00000000000000001"),
		},
		Env: EnvInfo{DataDir: "/var/lib/aegir", BackupDir: "/var/lib/aegir/backups", SecretsBackend: "file"},
	}
}

// CodeAbandoned is the result code of a back end whose task aegir gave up
// (its Nomad node was lost) before or while it ran.
const CodeAbandoned = "task_abandoned"

// runUnlessAbandoned runs the task unless aegir gave it up (the abandoned
// mark in Redis, set when the task failed because its Nomad node was
// lost): not at all when the mark is there at the start; stopped, rolling
// back as on a cancel, when it appears meanwhile; and when it appears
// only after the work is done, the archives the task made are removed,
// since the failed task will never record them. Without a Redis result
// sink (the local executor) it just runs.
func runUnlessAbandoned(ctx context.Context, r *Runner, c *Context, sink *redisSink, log *slog.Logger) Result {
	given := Result{Version: ContextVersion, TaskID: c.Task.ID, Status: domain.TaskFailed, ErrorCode: CodeAbandoned,
		FixHint: "aegir failed this task when its Nomad node was lost; retry the task."}
	if sink.abandoned(ctx) {
		log.Warn("aegir gave this task up (its Nomad node was lost) before the back end started; doing nothing")
		given.Explanation = "aegir gave the task up before the back end started; nothing was done."
		return given
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var gaveUp atomic.Bool
	go sink.watchAbandoned(runCtx, func() {
		log.Warn("aegir gave this task up (its Nomad node was lost); stopping and rolling back")
		gaveUp.Store(true)
		cancel()
	})
	res := r.Run(runCtx, c)
	cancel()
	if !gaveUp.Load() && !sink.abandoned(ctx) {
		return res
	}
	return abandonedResult(res, given, log)
}

// abandonedResult is the result of a task aegir gave up while its back end
// ran, given res, what the back end did: the archives res made are removed
// (no record will own them) and the result says the task was given up.
func abandonedResult(res, given Result, log *slog.Logger) Result {
	var removed []string
	for _, b := range res.Changes.Backups {
		if b.Path == "" {
			continue
		}
		if err := os.Remove(b.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Error("the archive of a task aegir gave up could not be removed; remove it by hand", "path", b.Path, "err", err)
			continue
		}
		removed = append(removed, b.Path)
	}
	if len(removed) > 0 {
		log.Warn("aegir gave this task up while it ran; removed the archives it made, which no record will own", "archives", removed)
	}
	given.Explanation = "aegir gave the task up while the back end ran (" + string(res.Status) + "); what it did was rolled back or removed."
	return given
}
