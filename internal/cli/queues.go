package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// The queue and backup nouns and "site stats" live here; they join the
// command table at init.
func init() {
	nouns = append(nouns, queueNoun, backupNoun)
	siteNoun.verbs = append(siteNoun.verbs, &verb{name: "stats", args: "SITE [-json]", summary: "Show a site's figures over time and its last cron outputs.", run: siteStats,
		examples: []string{"aegir site stats example.com", "aegir site stats example.com -json"}})
}

var queueNoun = &noun{
	name:    "queue",
	summary: "The periodic queues (cron, backup, stats): settings, passes, failing sites.",
	verbs: []*verb{
		{name: "list", args: "[-json]", summary: "List the queues with their last pass, backlog and failing sites.", run: queueList,
			examples: []string{"aegir queue list"}},
		{name: "show", args: "NAME [-json]", summary: "Show a queue: settings, last and next pass, failing sites.", run: queueResource.show,
			examples: []string{"aegir queue show cron"}},
		{name: "set", args: "NAME [flags]", summary: "Change a queue's settings (only the flags given).", run: queueSet,
			examples: []string{"aegir queue set cron -frequency 1h -interval 5m -concurrency 8", "aegir queue set backup -keep-last 3 -daily 7 -weekly 4 -monthly 6", "aegir queue set stats -enabled=false"}},
		{name: "run", args: "NAME [-no-wait] [-json]", summary: "Run one pass of a queue now: the API starts it, this shows its progress and waits for its end (exit 1 if it did not end done, or a site failed). The Nomad periodic jobs run this.", run: queueRun,
			examples: []string{"aegir queue run cron", "aegir queue run backup -no-wait"}},
		{name: "pass", args: "NAME [PASS] [-wait] [-json]", summary: "Show a pass of a queue (default: the newest) with its progress or outcome; -wait follows it to its end.", run: queuePass,
			examples: []string{"aegir queue pass cron", "aegir queue pass backup 06h17z8c4w2m0a1b2c3d -wait"}},
	},
}

var backupNoun = &noun{
	name:    "backup",
	summary: "Site backups: list, download, delete.",
	verbs: []*verb{
		{name: "list", args: "[-site SITE] [-json]", summary: "List backups, newest first.", run: backupResource.list,
			examples: []string{"aegir backup list -site example.com"}},
		{name: "download", args: "ID [-o FILE]", summary: "Download a backup archive (.tar.zst); -o - writes to stdout.", run: backupDownload,
			examples: []string{"aegir backup download 01hx2y3z4a5b6c7d8e9f -o site.tar.zst"}},
		{name: "delete", args: "ID [-wait] [-json]", summary: "Queue the deletion of a backup (archive and record together), a deleted site's too.", run: backupDelete,
			examples: []string{"aegir backup delete 01hx2y3z4a5b6c7d8e9f -wait"}},
	},
}

func queueList(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	asJSON := jsonFlag(fs)
	_, c, err := a.connect(fs, args, 0, 0)
	if err != nil {
		return err
	}
	var l []apiv1.QueueStatus
	raw, err := c.get(ctx, c.path("queues"), nil, &l)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	t := newTable(a.stdout, "QUEUE", "ENABLED", "FREQUENCY", "INTERVAL", "ELIGIBLE", "BACKLOG", "FAILING", "LAST PASS", "NEXT PASS")
	for _, s := range l {
		last, next := "-", "-"
		if s.LastPass != nil {
			last = when(s.LastPass.Started)
		}
		if s.Current != nil {
			last = "running " + strconv.Itoa(s.Current.Done) + "/" + strconv.Itoa(s.Current.Due)
		}
		if s.NextPass != nil {
			next = when(*s.NextPass)
		}
		t.row(s.Name, yesNo(s.Settings.Enabled), s.Settings.Frequency.D().String(), s.Settings.Interval.D().String(),
			strconv.Itoa(s.Eligible), strconv.Itoa(s.Backlog), strconv.Itoa(s.FailingTotal), last, next)
	}
	return t.flush()
}

var queueResource = &resource[apiv1.QueueStatus]{noun: "queue", collection: "queues", byPath: true, details: queueDetails}

// queueDetails shows a queue's settings and state, and its failing sites.
func queueDetails(_ context.Context, a *app, _ *api, s *apiv1.QueueStatus) error {
	st := s.Settings
	kv := []string{"queue", s.Name, "enabled", yesNo(st.Enabled), "frequency", st.Frequency.D().String(),
		"interval", st.Interval.D().String(), "concurrency", strconv.Itoa(st.Concurrency), "timeout", st.Timeout.D().String(),
		"max backoff", st.MaxBackoff.D().String(), "eligible", strconv.Itoa(s.Eligible), "backlog", strconv.Itoa(s.Backlog),
		"failing", strconv.Itoa(s.FailingTotal)}
	if st.CronPath != "" {
		kv = append(kv, "cron path", st.CronPath)
	}
	if r := st.Retention; r != nil {
		kv = append(kv, "retention", fmt.Sprintf("last %d, daily %d, weekly %d, monthly %d", r.KeepLast, r.Daily, r.Weekly, r.Monthly))
	}
	if p := s.Current; p != nil {
		kv = append(kv, "running pass", fmt.Sprintf("%s since %s: %s", p.ID, when(p.Started), passProgress(p)))
	}
	if p := s.LastPass; p != nil {
		kv = append(kv, "last pass", fmt.Sprintf("%s %s: %d due, %d succeeded, %d failed, %d skipped", when(p.Started), p.State, p.Due, p.Succeeded, p.Failed, p.Skipped))
	}
	if s.NextPass != nil {
		kv = append(kv, "next pass", when(*s.NextPass))
	}
	if err := a.fields(kv...); err != nil {
		return err
	}
	if len(s.Failing) > 0 {
		fmt.Fprintln(a.stdout, "\nfailing sites:")
		t := newTable(a.stdout, "SITE", "FAILURES", "LAST", "RETRY", "ERROR")
		for _, f := range s.Failing {
			t.row(f.Domain, strconv.Itoa(f.Run.Failures), when(f.Run.Last), when(f.Retry), sanitize(f.Run.Error))
		}
		return t.flush()
	}
	return nil
}

func queueSet(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	var enabled optBool
	fs.Var(&enabled, "enabled", "run the queue on its own (true/false)")
	freq := fs.Duration("frequency", 0, "every site within this (e.g. 1h)")
	interval := fs.Duration("interval", 0, "how often a pass runs (e.g. 5m)")
	conc := fs.Int("concurrency", 0, "sites worked on at once in a pass")
	timeout := fs.Duration("timeout", 0, "bound on one site's work")
	backoff := fs.Duration("max-backoff", 0, "longest wait of a site that keeps failing")
	cronPath := fs.String("cron-path", "", "cron: a path to request through the site's web server on every run (\"-\" clears it)")
	keep := fs.Int("keep-last", -1, "backup: keep the newest N scheduled backups")
	daily := fs.Int("daily", -1, "backup: keep the newest backup of each of the last N days")
	weekly := fs.Int("weekly", -1, "backup: keep the newest backup of each of the last N weeks")
	monthly := fs.Int("monthly", -1, "backup: keep the newest backup of each of the last N months")
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var s apiv1.QueueSettings
	if _, err := c.get(ctx, c.path("queues", pos[0]), nil, &struct {
		Settings *apiv1.QueueSettings `json:"settings"`
	}{&s}); err != nil {
		return err
	}
	if enabled.set {
		s.Enabled = enabled.val
	}
	set := func(d *apiv1.Duration, v time.Duration) {
		if v != 0 {
			*d = apiv1.Duration(v)
		}
	}
	set(&s.Frequency, *freq)
	set(&s.Interval, *interval)
	set(&s.Timeout, *timeout)
	set(&s.MaxBackoff, *backoff)
	if *conc != 0 {
		s.Concurrency = *conc
	}
	switch *cronPath {
	case "":
	case "-":
		s.CronPath = ""
	default:
		s.CronPath = *cronPath
	}
	if *keep >= 0 || *daily >= 0 || *weekly >= 0 || *monthly >= 0 {
		if s.Retention == nil {
			s.Retention = &apiv1.QueueRetention{}
		}
		for _, f := range []struct {
			dst *int
			v   int
		}{{&s.Retention.KeepLast, *keep}, {&s.Retention.Daily, *daily}, {&s.Retention.Weekly, *weekly}, {&s.Retention.Monthly, *monthly}} {
			if f.v >= 0 {
				*f.dst = f.v
			}
		}
	}
	var out apiv1.QueueSettings
	if _, err := c.do(ctx, http.MethodPut, c.path("queues", pos[0]), nil, s, &out); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "queue %s: every site within %s, a pass every %s, %d at once, enabled %s\n",
		pos[0], out.Frequency.D(), out.Interval.D(), out.Concurrency, yesNo(out.Enabled))
	return nil
}

// queueRun asks the API to start one pass and, unless -no-wait, follows
// it to its end. The pass runs in the server: Ctrl-C or a lost connection
// stops the waiting, not the pass.
func queueRun(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	asJSON := fs.Bool("json", false, "print the API's JSON: the ended pass (with -no-wait: the started one)")
	noWait := fs.Bool("no-wait", false, "return once the pass has started; follow it with aegir queue pass NAME PASS -wait")
	retry := fs.Duration("retry", 5*time.Minute, "while the server answers that Consul or Redis is away (503 store_unavailable, bus_unavailable), ask again with backoff for this long; 0: once")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	c, err := a.client()
	if err != nil {
		return err
	}
	raw, err := startPassRetrying(ctx, a, c, name, *retry)
	if err != nil {
		return err
	}
	var p apiv1.PassReport
	if err := json.Unmarshal(raw, &p); err != nil || p.ID == "" {
		return fmt.Errorf("the API answered POST /queues/%s/run with JSON this client does not understand (%v); is it an older aegir? Upgrade the client and the server together", name, err)
	}
	if *noWait {
		if *asJSON {
			return a.printJSON(raw)
		}
		fmt.Fprintf(a.stdout, "Started pass %s of the %s queue; follow it with: aegir queue pass %s %s -wait\n", p.ID, name, name, p.ID)
		return nil
	}
	fmt.Fprintf(a.stderr, "Started pass %s of the %s queue.\n", p.ID, name)
	end, raw, err := a.followPass(ctx, c, name, p.ID)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := a.printJSON(raw); err != nil {
			return err
		}
	} else {
		printPassSummary(a.stdout, end)
	}
	return passOutcome(end)
}

// startPassRetrying is startPass, asked again with backoff (from 5s,
// doubling, at most a minute; a.retryDelay in tests) for up to limit
// while the server answers that the store or Redis is away: it started
// no pass then, so asking again cannot start two. This is how a pass due
// in a Consul restart still runs within its interval when a Nomad
// periodic job starts it.
func startPassRetrying(ctx context.Context, a *app, c *api, name string, limit time.Duration) ([]byte, error) {
	deadline := time.Now().Add(limit)
	wait := cmpDur(a.retryDelay, 5*time.Second)
	for {
		raw, err := startPass(ctx, c, name)
		var ae *APIError
		if err == nil || !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable ||
			(ae.Code != "store_unavailable" && ae.Code != "bus_unavailable") || time.Now().Add(wait).After(deadline) {
			return raw, err
		}
		fmt.Fprintf(a.stderr, "The %s pass could not start (%s); asking again in %s.\n", name, sanitize(ae.Message), wait)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(2*wait, time.Minute)
	}
}

// startPass POSTs .../run and returns the started pass's JSON. A 409 says
// which pass is running (Location), and how to follow it.
func startPass(ctx context.Context, c *api, name string) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := c.newRequest(rctx, http.MethodPost, c.path("queues", name, "run"), nil, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, &connError{msg: fmt.Sprintf("the aegir API at %s did not answer POST %s within %s; a pass may have started: see aegir queue show %s", c.addr, req.URL.Path, requestTimeout, name)}
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, &connError{msg: fmt.Sprintf("reading the answer of POST %s: %v; a pass may have started: see aegir queue show %s", req.URL.Path, err, name)}
	}
	if resp.StatusCode >= 300 {
		ae := decodeError(resp.StatusCode, raw)
		if id := passFromLocation(resp.Header.Get("Location")); resp.StatusCode == http.StatusConflict && id != "" {
			ae.Message += "; follow it with: aegir queue pass " + name + " " + id + " -wait"
		}
		return nil, ae
	}
	return raw, nil
}

// passFromLocation is the pass id at the end of a pass URL, if it looks
// like one.
func passFromLocation(loc string) string {
	i := strings.LastIndex(loc, "/passes/")
	if i < 0 {
		return ""
	}
	id := loc[i+len("/passes/"):]
	if !domain.ValidID(id) {
		return ""
	}
	return id
}

// followPass polls a pass until it ends, printing its progress on stderr
// when it moved (at most every five polls), and returns the ended pass
// and its JSON. Failed polls are retried (maxReconnects in a row).
func (a *app) followPass(ctx context.Context, c *api, name, id string) (*apiv1.PassReport, []byte, error) {
	every := cmpDur(a.pollEvery, 2*time.Second)
	failures, shown := 0, -1
	var printed time.Time
	for {
		var p apiv1.PassReport
		raw, err := c.get(ctx, c.path("queues", name, "passes", id), nil, &p)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(a.stderr, "Stopped waiting; pass %s goes on in the server: aegir queue pass %s %s\n", id, name, id)
				return nil, nil, ctx.Err()
			}
			var ae *APIError
			var ce *connError
			retry := errors.As(err, &ce) || (errors.As(err, &ae) && ae.Status >= 500)
			failures++
			if !retry {
				return nil, nil, err
			}
			if failures > maxReconnects {
				return nil, nil, &connError{msg: fmt.Sprintf("lost track of pass %s of the %s queue: %v\nThe pass goes on in the aegir server; follow it with: aegir queue pass %s %s -wait", id, name, err, name, id)}
			}
			if err := sleep(ctx, min(every*time.Duration(failures), 30*time.Second)); err != nil {
				return nil, nil, err
			}
			continue
		}
		failures = 0
		if p.State != apiv1.PassRunning {
			return &p, raw, nil
		}
		if p.Done != shown && (shown < 0 || time.Since(printed) >= 5*every) {
			fmt.Fprintf(a.stderr, "%s pass %s: %s\n", name, id, passProgress(&p))
			shown, printed = p.Done, time.Now()
		}
		if err := sleep(ctx, every); err != nil {
			fmt.Fprintf(a.stderr, "Stopped waiting; pass %s goes on in the server: aegir queue pass %s %s\n", id, name, id)
			return nil, nil, err
		}
	}
}

// passProgress is "40/100 sites (38 succeeded, 2 failed, 0 skipped)".
func passProgress(p *apiv1.PassReport) string {
	if p.State == apiv1.PassRunning && p.Due == 0 && p.Eligible == 0 {
		return "planning"
	}
	return fmt.Sprintf("%d/%d sites (%d succeeded, %d failed, %d skipped)", p.Done, p.Due, p.Succeeded, p.Failed, p.Skipped)
}

func printPassSummary(w io.Writer, p *apiv1.PassReport) {
	took := "unfinished"
	if !p.Finished.IsZero() {
		took = p.Finished.Sub(p.Started).Round(time.Millisecond).String()
	}
	fmt.Fprintf(w, "queue %s pass %s %s: %d eligible, %d due (backlog %d): %d succeeded, %d failed, %d skipped; %d failing sites; %s\n",
		p.Queue, p.ID, p.State, p.Eligible, p.Due, p.Backlog, p.Succeeded, p.Failed, p.Skipped, p.Failing, took)
}

// passOutcome is nil for a pass that ended done with no failed site.
func passOutcome(p *apiv1.PassReport) error {
	if p.State != apiv1.PassDone {
		return fmt.Errorf("pass %s of the %s queue ended %s: %s", p.ID, p.Queue, p.State, sanitize(p.Error))
	}
	if p.Failed > 0 {
		return fmt.Errorf("%d sites failed in the %s pass; see aegir queue show %s", p.Failed, p.Queue, p.Queue)
	}
	return nil
}

// queuePass shows one pass (the newest by default); -wait follows it.
func queuePass(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	wait := fs.Bool("wait", false, "follow a running pass to its end (exit 1 unless it ends done with no failed site)")
	asJSON := jsonFlag(fs)
	pos, err := a.parse(fs, args, 1, 2)
	if err != nil {
		return err
	}
	name := pos[0]
	c, err := a.client()
	if err != nil {
		return err
	}
	var p apiv1.PassReport
	var raw []byte
	if len(pos) == 2 {
		if raw, err = c.get(ctx, c.path("queues", name, "passes", pos[1]), nil, &p); err != nil {
			return err
		}
	} else {
		var l []json.RawMessage
		if _, err := c.get(ctx, c.path("queues", name, "passes"), nil, &l); err != nil {
			return err
		}
		if len(l) == 0 {
			return &APIError{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("the %s queue has no pass yet; start one with aegir queue run %s", name, name)}
		}
		raw = l[0]
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("the API answered with JSON this client does not understand: %w", err)
		}
	}
	if *wait && p.State == apiv1.PassRunning {
		end, endRaw, err := a.followPass(ctx, c, name, p.ID)
		if err != nil {
			return err
		}
		p, raw = *end, endRaw
	}
	if *asJSON {
		if err := a.printJSON(raw); err != nil {
			return err
		}
	} else {
		kv := []string{"pass", p.ID, "queue", p.Queue, "state", string(p.State), "progress", passProgress(&p),
			"eligible", strconv.Itoa(p.Eligible), "backlog", strconv.Itoa(p.Backlog), "started", when(p.Started)}
		if !p.Finished.IsZero() {
			kv = append(kv, "finished", when(p.Finished), "took", p.Finished.Sub(p.Started).Round(time.Millisecond).String())
		}
		if p.BackupsDeleted > 0 {
			kv = append(kv, "backups deleted", strconv.Itoa(p.BackupsDeleted))
		}
		if p.Error != "" {
			kv = append(kv, "error", sanitize(p.Error))
		}
		if err := a.fields(kv...); err != nil {
			return err
		}
	}
	if *wait {
		return passOutcome(&p)
	}
	return nil
}

func siteStats(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	asJSON := jsonFlag(fs)
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var st struct {
		Points []apiv1.StatsPoint `json:"points"`
		Cron   []apiv1.CronOutput `json:"cron"`
	}
	raw, err := c.get(ctx, c.path("sites", pos[0], "stats"), nil, &st)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	names := map[string]bool{}
	for _, p := range st.Points {
		for k := range p.Figures {
			names[k] = true
		}
	}
	cols := make([]string, 0, len(names))
	for k := range names {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	t := newTable(a.stdout, append([]string{"AT"}, upper(cols)...)...)
	for _, p := range st.Points {
		row := []string{when(p.At)}
		for _, k := range cols {
			if v, ok := p.Figures[k]; ok {
				row = append(row, strconv.FormatFloat(v, 'f', -1, 64))
			} else {
				row = append(row, "-")
			}
		}
		t.row(row...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, o := range st.Cron {
		fmt.Fprintf(a.stdout, "\ncron %s (%s, %.2fs, task %s):\n%s\n", when(o.At), map[bool]string{true: "ok", false: "failed"}[o.OK], o.Seconds, o.TaskID, sanitize(o.Output))
	}
	return nil
}

func upper(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToUpper(x)
	}
	return out
}

var backupResource = &resource[domain.Backup]{
	noun: "backup", collection: "backups", unpaged: true,
	filters: func(fs *flag.FlagSet) func(context.Context, *api, *listRequest) error {
		site := fs.String("site", "", "only backups of this site (id or domain)")
		return func(_ context.Context, _ *api, l *listRequest) error {
			if *site != "" {
				l.path = []string{"sites", *site, "backups"}
			}
			return nil
		}
	},
	header: []string{"ID", "SITE", "REASON", "SIZE", "CREATED"},
	rows: plainRows(func(b *domain.Backup) []string {
		return []string{b.ID, b.Domain, b.Reason, strconv.FormatInt(b.Size, 10), when(b.CreatedAt)}
	}),
}

func backupDownload(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	out := fs.String("o", "", "write here (default: the archive's name in the current directory; - for stdout)")
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, http.MethodGet, c.path("backups", pos[0], "download"), nil, nil)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return decodeError(resp.StatusCode, raw)
	}
	var w io.Writer = a.stdout
	name := *out
	if name == "" {
		name = pos[0] + ".tar.zst"
		if _, cd, ok := strings.Cut(resp.Header.Get("Content-Disposition"), `filename="`); ok {
			if n := strings.TrimSuffix(cd, `"`); n != "" && !strings.ContainsAny(n, `/\`) {
				name = n
			}
		}
	}
	if name != "-" {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("%w (choose another file with -o)", err)
		}
		defer f.Close()
		w = f
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return errors.Join(fmt.Errorf("download interrupted after %d bytes", n), err)
	}
	if name != "-" {
		fmt.Fprintf(a.stderr, "wrote %s (%d bytes, sha256 %s)\n", name, n, resp.Header.Get("X-Checksum-Sha256"))
	}
	return nil
}

// backupDelete queues the deletion of a backup: delete-backup on its site,
// or delete-backup-of-deleted-site on the server holding the archive when
// the site is gone. -wait follows the task.
func backupDelete(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	tf := taskFlags(fs)
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var t domain.Task
	raw, err := c.do(ctx, http.MethodDelete, c.path("backups", pos[0]), nil, nil, &t)
	if err != nil {
		return err
	}
	return a.queued(ctx, c, tf, raw, &t, "")
}
