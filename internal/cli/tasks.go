package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/taskspec"
)

var taskNoun = &noun{
	name:    "task",
	summary: "Inspect, follow, cancel and retry tasks: the work queued for the back end.",
	verbs: []*verb{
		{name: "list", args: "[flags]", summary: "List tasks, with filters.", run: taskResource.list,
			examples: []string{"aegir task list -status queued", "aegir task list -target example.com", "aegir task list -type backup -json"}},
		{name: "show", args: "ID", summary: "Show a task with its result.", run: taskResource.show,
			examples: []string{"aegir task show 01hx2y3z4a5b6c7d8e9f"}},
		{name: "logs", args: "[-f] ID", summary: "Print a task's log; -f follows it and exits with the task's outcome.", run: taskLogs,
			examples: []string{"aegir task logs 01hx2y3z4a5b6c7d8e9f", "aegir task logs -f 01hx2y3z4a5b6c7d8e9f && echo ok"}},
		{name: "cancel", args: "ID", summary: "Cancel a queued or running task.", run: taskCancel,
			examples: []string{"aegir task cancel 01hx2y3z4a5b6c7d8e9f"}},
		{name: "retry", args: "ID [-wait]", summary: "Queue a new task like a failed or cancelled one.", run: taskRetry,
			examples: []string{"aegir task retry 01hx2y3z4a5b6c7d8e9f -wait"}},
	},
}

var taskResource = &resource[domain.Task]{
	noun: "task", collection: "tasks", byPath: true,
	filters: taskFilters, flagItems: "tasks",
	header: []string{"ID", "TYPE", "TARGET", "STATUS", "CREATED", "FINISHED", "BY"},
	rows: plainRows(func(x *domain.Task) []string {
		target := x.TargetName
		if target == "" {
			target = x.TargetID
		}
		return []string{x.ID, string(x.Type), string(x.TargetKind) + " " + target, string(x.Status), when(x.CreatedAt), whenPtr(x.FinishedAt), x.RequestedBy}
	}),
	details: taskDetails,
}

func taskFilters(fs *flag.FlagSet) func(context.Context, *api, *listRequest) error {
	status := fs.String("status", "", "only tasks in this status: queued, running, succeeded, failed, cancelled")
	typ := fs.String("type", "", "only tasks of this type (install, backup, verify-platform ...)")
	target := fs.String("target", "", "only tasks on this target: an id, a site's domain, or with -kind a platform or server name")
	kind := fs.String("kind", "", "only tasks on this kind of target: site, platform or server")
	return func(ctx context.Context, c *api, l *listRequest) error {
		setIf(l.q, "status", *status)
		setIf(l.q, "type", *typ)
		setIf(l.q, "target_kind", *kind)
		if *target != "" {
			id, k, err := resolveTarget(ctx, c, *kind, *target)
			if err != nil {
				return err
			}
			l.q.Set("target_id", id)
			setIf(l.q, "target_kind", k)
		}
		return nil
	}
}

// resolveTarget turns -target into a target id: ids pass, a site is found by
// domain, a platform or server by name when -kind says so.
func resolveTarget(ctx context.Context, c *api, kind, ref string) (id, k string, err error) {
	switch kind {
	case "platform":
		id, err = platformResource.idOf(ctx, c, ref)
		return id, kind, err
	case "server":
		id, err = serverResource.idOf(ctx, c, ref)
		return id, kind, err
	case "", "site":
		if domain.ValidID(ref) {
			return ref, kind, nil
		}
		id, err = siteResource.idOf(ctx, c, ref)
		return id, "site", err
	}
	return "", "", usagef("unknown -kind %q; use site, platform or server", kind)
}

func taskDetails(_ context.Context, a *app, _ *api, t *domain.Task) error {
	kv := []string{
		"ID", t.ID,
		"Type", string(t.Type),
		"Target", fmt.Sprintf("%s %s (%s)", t.TargetKind, t.TargetName, t.TargetID),
		"Status", string(t.Status),
		"Requested by", t.RequestedBy,
		"Created", when(t.CreatedAt),
		"Started", whenPtr(t.StartedAt),
		"Finished", whenPtr(t.FinishedAt),
	}
	for _, k := range slices.Sorted(maps.Keys(t.Args)) {
		kv = append(kv, "Arg "+k, t.Args[k])
	}
	if t.RetryOf != "" {
		kv = append(kv, "Retry of", t.RetryOf)
	}
	if t.Summary != "" {
		kv = append(kv, "Summary", t.Summary)
	}
	if t.Status == domain.TaskFailed || t.ErrorCode != "" {
		kv = append(kv, "Error code", t.ErrorCode, "Explanation", t.Explanation, "Fix", t.FixHint)
	}
	return a.fields(kv...)
}

func taskLogs(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	follow := fs.Bool("f", false, "follow the log until the task ends; exit 0 if it succeeded, 1 if not")
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *follow {
		return a.watchTask(ctx, c, pos[0], a.stdout)
	}
	f := a.newFollower(c, pos[0], a.stdout)
	_, err = f.printAvailable(ctx)
	var ae *APIError
	if err != nil && (!errors.As(err, &ae) || ae.Status != http.StatusNotFound) {
		return err
	}
	if f.last == "" { // nothing printed: say why
		t, terr := a.getTask(ctx, c, pos[0])
		if terr != nil {
			return terr
		}
		if !t.Status.Done() {
			fmt.Fprintf(a.stderr, "Task %s is %s and has no log yet.\n", t.ID, t.Status)
		}
	}
	return nil
}

func taskCancel(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	asJSON := jsonFlag(fs)
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var t domain.Task
	raw, err := c.post(ctx, c.path("tasks", pos[0], "cancel"), nil, &t)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	if t.ID == "" {
		t.ID = pos[0]
	}
	if t.Status != "" && t.Status != domain.TaskCancelled {
		fmt.Fprintf(a.stdout, "Cancellation of task %s requested; it is %s.\n", t.ID, t.Status)
		return nil
	}
	fmt.Fprintf(a.stdout, "Task %s cancelled.\n", t.ID)
	return nil
}

func taskRetry(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	tf := taskFlags(fs)
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var t domain.Task
	raw, err := c.post(ctx, c.path("tasks", pos[0], "retry"), nil, &t)
	if err != nil {
		return err
	}
	return a.queued(ctx, c, tf, raw, &t, "")
}

// taskOpts are the flags of every command that queues a task.
type taskOpts struct {
	wait   *bool
	asJSON *bool
}

func taskFlags(fs *flag.FlagSet) taskOpts {
	return taskOpts{
		wait:   fs.Bool("wait", false, "follow the task's log until it ends; the exit code tells its outcome"),
		asJSON: jsonFlag(fs),
	}
}

// queueTask queues a task on a site, platform or server: POST
// /<collection>/{ref}/tasks, and reports it (see queued).
func (a *app) queueTask(ctx context.Context, c *api, tf taskOpts, collection, ref, typ string, args map[string]string) error {
	body := map[string]any{"type": typ}
	if len(args) > 0 {
		body["args"] = args
	}
	var t domain.Task
	raw, err := c.post(ctx, c.path(collection, ref, "tasks"), body, &t)
	if err != nil {
		return err
	}
	return a.queued(ctx, c, tf, raw, &t, "")
}

// queued reports a queued task (and what was created with it, in done) and
// with -wait follows it to its end.
func (a *app) queued(ctx context.Context, c *api, o taskOpts, raw []byte, t *domain.Task, done string) error {
	if *o.asJSON {
		if err := a.printJSON(raw); err != nil {
			return err
		}
	} else {
		if done != "" {
			fmt.Fprintln(a.stdout, sanitize(done))
		}
		if t != nil && t.ID != "" {
			target := t.TargetName
			if target == "" {
				target = t.TargetID
			}
			fmt.Fprintf(a.stdout, "Task %s (%s on %s %s) %s.\n", t.ID, t.Type, t.TargetKind, sanitize(target), t.Status)
			switch {
			case t.Status.Done():
				// Recorded already finished (a backup whose server is
				// gone): nothing to follow, its own words say what it did.
				if t.Summary != "" {
					fmt.Fprintln(a.stdout, sanitize(t.Summary))
				}
			case !*o.wait:
				fmt.Fprintf(a.stdout, "Follow it with: aegir task logs -f %s\n", t.ID)
			}
		}
	}
	if !*o.wait || t == nil || t.ID == "" || t.Status.Done() {
		return nil
	}
	logs := a.stdout
	if *o.asJSON {
		logs = a.stderr // keep stdout one JSON document
	}
	return a.watchTask(ctx, c, t.ID, logs)
}

// mustSpec returns task type typ's spec, for a verb's help; a verb of a
// type with no spec is a programming error, found when the CLI starts.
func mustSpec(typ domain.TaskType) *taskspec.Spec {
	s, ok := taskspec.Lookup(typ)
	if !ok {
		panic("cli: no task spec for " + string(typ))
	}
	return s
}

// confirmSummary is the summary of a verb that asks to type what (the
// target's name) before it queues spec's task.
// askSummary is a task's summary with the note that it asks yes or no
// (Form.Ask).
func askSummary(spec *taskspec.Spec) string {
	return strings.TrimSuffix(spec.Summary, ".") + " (asks yes or no on a terminal, or -yes)."
}

func confirmSummary(spec *taskspec.Spec, what string) string {
	return strings.TrimSuffix(spec.Summary, ".") + " (asks to type " + what + ", or -yes)."
}
