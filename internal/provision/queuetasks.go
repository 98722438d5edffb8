package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/platform"
	"github.com/aegirhq/aegir/internal/provision/sitetree"
)

// The tasks of the periodic queues (scheduler/queue): cron, stats and
// delete-backup (handlers.go lists them with the others).

// QueueReport is what a cron or stats task hands back besides its status:
// the tail of the cron's output, or the site's figures. Bounded: Output at
// most MaxReportOutput bytes, at most MaxFigures figures.
type QueueReport struct {
	// Output is the end of what the cron command printed (stdout and
	// stderr interleaved), secrets redacted.
	Output string `json:"output,omitempty"`
	// Seconds is how long the cron took.
	Seconds float64 `json:"seconds,omitempty"`
	// Figures are the site's measurements: what the platform reports
	// (users, content counts ...) plus disk_bytes and db_bytes.
	Figures map[string]float64 `json:"figures,omitempty"`
}

// Bounds of a QueueReport.
const (
	MaxReportOutput = 4 << 10
	MaxFigures      = 32
)

// Error codes of the queue tasks.
const (
	CodeCronFailed  = "cron_failed"  // the cron command or request failed or timed out
	CodeStatsFailed = "stats_failed" // the stats hook failed or printed no JSON object
)

// DefaultCronTimeout bounds one cron run unless the task's "timeout"
// argument says otherwise (at most MaxCronTimeout).
const (
	DefaultCronTimeout = 5 * time.Minute
	MaxCronTimeout     = time.Hour
)

// DBSizer is implemented by database drivers that can tell a database's
// size; stats reports db_bytes for them (sqlite: the file's size).
type DBSizer interface {
	Size(ctx context.Context, db DBCreds) (int64, error)
}

func (j *job) cronTimeout() time.Duration {
	d, err := time.ParseDuration(j.c.Task.Args["timeout"])
	if err != nil || d <= 0 {
		return DefaultCronTimeout
	}
	return min(d, MaxCronTimeout)
}

// cronTask runs a site's cron: the command its platform's Type gives
// (CronArgv: the php manifest's cron hook, drush cron for drupal), and for
// any type an HTTP GET of the path in the "path" argument through the
// site's web server. A static site without a path has nothing to run.
func cronTask(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	if !exists(se.loc.Dir) {
		return failf(CodeSiteMissing, "Restore the site from a backup, or delete it and install it again.", nil,
			"The site directory %s is missing", se.loc.Dir)
	}
	timeout := j.cronTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	out := &tailBuffer{max: MaxReportOutput}
	argv, err := se.loc.Plat.CronArgv(se.loc.Domain)
	if errors.Is(err, platform.ErrDrushMissing) {
		return failf(CodeDrushMissing, "Install drush in the platform (vendor/bin/drush) or on the PATH of the user running aegir.", err,
			"drush not found, so cron cannot run for %s", se.loc.Domain)
	}
	if errors.Is(err, platform.ErrPHPMissing) {
		return failf(CodePHPMissing, phpMissingHint, err, "Neither drush nor php for aegir's own Drupal cron runner was found, so cron cannot run for %s", se.loc.Domain)
	}
	if err != nil {
		return failf(CodePlatformType, "Fix the platform, then run verify-platform.", err, "The cron command of %s could not be built", se.loc.Domain)
	}
	ran := false
	if argv != nil {
		if err := j.asSite(se.web, &se.loc); err != nil {
			return err
		}
		sec, err := j.siteSecret(ctx, se.loc.ID, "site_db")
		if err != nil {
			return err
		}
		env := siteEnv(se.loc, creds(se.db, se.loc.ID, sec))
		if err := j.runCaptured(ctx, "cron", argv, se.loc.Plat.Path, env, se.loc.Cred, out); err != nil {
			j.res.Report = &QueueReport{Output: j.red.String(out.String()), Seconds: time.Since(start).Seconds()}
			if ctx.Err() != nil {
				return failf(CodeCronFailed, fmt.Sprintf("Make the cron finish within %s, or raise the cron queue's timeout.", timeout), err,
					"The cron of %s did not finish within %s and was stopped", se.loc.Domain, timeout)
			}
			return failf(CodeCronFailed, "Read the cron's output (aegir queue show cron, or the task log), fix the site or platform; the next pass runs it again.", err,
				"The cron command %q of %s failed", platform.ShowArgv(argv), se.loc.Domain)
		}
		ran = true
	}
	if p := j.c.Task.Args["path"]; p != "" {
		if !cronPath.MatchString(p) {
			return failf(CodeInvalidInput, "Give a path such as /cron or /cron.php?key=abc (letters, digits and -._~/?=&%).", nil,
				"The cron path %q is not allowed", domain.Clip(p))
		}
		code, err := j.getPath(ctx, se.web.URL(), se.loc.Domain, p, out)
		if err != nil || code >= 400 {
			j.res.Report = &QueueReport{Output: j.red.String(out.String()), Seconds: time.Since(start).Seconds()}
			return failf(CodeCronFailed, "Check that the site answers on its cron path.", err,
				"The cron request GET %s of %s answered %d", p, se.loc.Domain, code)
		}
		ran = true
	}
	secs := time.Since(start).Seconds()
	j.res.Report = &QueueReport{Output: j.red.String(out.String()), Seconds: secs}
	if !ran {
		j.res.Summary = fmt.Sprintf("no cron for %s: its %s platform declares none", se.loc.Domain, se.loc.Plat.Type)
		return nil
	}
	j.res.Summary = fmt.Sprintf("cron of %s ran in %.2fs", se.loc.Domain, secs)
	return nil
}

// cronPath is what a cron URL path may contain.
var cronPath = regexp.MustCompile(`^/[A-Za-z0-9\-._~/?=&%]{0,200}$`)

// getPath GETs base+path with the site's domain as Host, copying the start
// of the body into out.
func (j *job) getPath(ctx context.Context, base, host, path string, out *tailBuffer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Host = host
	resp, err := j.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf := make([]byte, MaxReportOutput)
	n, _ := resp.Body.Read(buf)
	_, _ = out.Write(buf[:n])
	return resp.StatusCode, nil
}

// runCaptured runs argv like runCommand (no shell, only PATH/HOME/LANG
// passed on, its process group killed on cancel) and also keeps the tail
// of its output in out.
func (j *job) runCaptured(ctx context.Context, what string, argv []string, dir string, env map[string]string, cred *syscall.Credential, out *tailBuffer) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + envOr("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME=" + envOr("HOME", "/"), "LANG=C.UTF-8"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	lw := &lineWriter{log: j.log, level: slog.LevelInfo, attrs: []any{"command", what}}
	w := &teeWriter{a: lw, b: out}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = procAttr(cred)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	j.log.Info("running", "command", what, "argv", platform.ShowArgv(argv))
	err := cmd.Run()
	lw.Flush()
	return err
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (t *teeWriter) Write(p []byte) (int, error) {
	_, _ = t.b.Write(p)
	return t.a.Write(p)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.ToValidUTF8(string(t.buf), "") }

// figureName is what a figure may be called.
var figureName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// statsTask measures a site: what its platform's Type says to ask (Stats:
// the php manifest's stats hook, row counts for drupal), the disk usage of its
// directory, and its database's size where the driver can tell.
func statsTask(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	if !exists(se.loc.Dir) {
		return failf(CodeSiteMissing, "Restore the site from a backup, or delete it and install it again.", nil,
			"The site directory %s is missing", se.loc.Dir)
	}
	ctx, cancel := context.WithTimeout(ctx, j.cronTimeout())
	defer cancel()
	sec, err := j.siteSecret(ctx, se.loc.ID, "site_db")
	if err != nil {
		return err
	}
	cr := creds(se.db, se.loc.ID, sec)
	figures := map[string]float64{}
	probe := se.loc.Plat.Stats()
	if argv := probe.Hook; argv != nil {
		if err := j.asSite(se.web, &se.loc); err != nil {
			return err
		}
		out := &tailBuffer{max: 64 << 10}
		var stdout bytes.Buffer
		if err := j.runStatsHook(ctx, argv, se.loc.Plat.Path, siteEnv(se.loc, cr), se.loc.Cred, &stdout, out); err != nil {
			return failf(CodeStatsFailed, "Read the hook's output in the task log and fix the platform.", err,
				"The stats hook %q of %s failed", argv, se.loc.Domain)
		}
		var raw map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
			return failf(CodeStatsFailed, "The stats hook must print one JSON object of numbers, such as {\"users\": 3}.", err,
				"The stats hook of %s printed something that is not a JSON object", se.loc.Domain)
		}
		for k, v := range raw {
			f, ok := v.(float64)
			if !ok || !figureName.MatchString(k) || len(figures) >= MaxFigures-2 {
				j.log.Warn("skipping a figure that is not a number or has an invalid name", "name", domain.Clip(k))
				continue
			}
			figures[k] = f
		}
	}
	for name, table := range probe.Tables {
		n, err := se.db.Count(ctx, cr, table)
		if err != nil {
			j.log.Warn("count failed", "table", table, "err", err)
			continue
		}
		figures[name] = float64(n)
	}
	du, err := diskUsage(ctx, se.loc.Dir)
	if err != nil {
		return failf(CodeFilesFailed, "Check that the site's files are readable by the user running aegir.", err,
			"The disk usage of %s could not be measured", se.loc.Dir)
	}
	figures["disk_bytes"] = float64(du)
	if cr.Path != "" {
		if fi, err := os.Stat(cr.Path); err == nil {
			figures["db_bytes"] = float64(fi.Size())
		}
	} else if sz, ok := se.db.DBDriver.(DBSizer); ok {
		if n, err := sz.Size(ctx, cr); err == nil {
			figures["db_bytes"] = float64(n)
		} else {
			j.log.Warn("database size unknown", "err", err)
		}
	}
	j.res.Report = &QueueReport{Figures: figures}
	j.res.Summary = fmt.Sprintf("measured %s: %d figures, %d bytes on disk", se.loc.Domain, len(figures), du)
	return nil
}

func (j *job) runStatsHook(ctx context.Context, argv []string, dir string, env map[string]string, cred *syscall.Credential, stdout *bytes.Buffer, stderr *tailBuffer) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + envOr("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME=" + envOr("HOME", "/"), "LANG=C.UTF-8"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout = &limitedBuffer{buf: stdout, max: 64 << 10}
	lw := &lineWriter{log: j.log, level: slog.LevelInfo, attrs: []any{"command", "stats"}}
	cmd.Stderr = &teeWriter{a: lw, b: stderr}
	cmd.SysProcAttr = procAttr(cred)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	lw.Flush()
	return err
}

// diskUsage sums the sizes of the regular files under dir (symlinks are
// not followed, nor is a directory swapped for one mid-walk: sitetree).
func diskUsage(ctx context.Context, dir string) (int64, error) {
	var n int64
	err := sitetree.Walk(ctx, dir, func(e *sitetree.Entry) error {
		if e.Mode.IsRegular() {
			n += e.Size
		}
		return nil
	})
	return n, err
}

// deleteBackupTask removes one backup archive and proposes removing its
// record, so the two go together: the record goes only once the file is
// gone (or was already gone). The archive must lie under the backup dir.
func deleteBackupTask(_ context.Context, j *job) error {
	b := j.c.Backup
	if b == nil || b.Path == "" {
		return failf(CodeContextInvalid, "Run a back end of the same aegir release as the front end.", nil, "A delete-backup task needs the backup")
	}
	root := filepath.Clean(j.c.Env.BackupDir)
	p := filepath.Clean(b.Path)
	if !filepath.IsAbs(p) || !strings.HasPrefix(p, root+string(filepath.Separator)) || !strings.HasSuffix(p, ".tar.zst") {
		return failf(CodeInvalidInput, "Remove the archive by hand; aegir deletes only archives under its backup directory.", nil,
			"The backup %s is not a .tar.zst archive under %s", b.Path, root)
	}
	err := os.Remove(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		j.log.Warn("the archive was already gone; removing its record", "path", p)
	case err != nil:
		return failf(CodeFilesFailed, "Check the permissions of the backup directory, then delete the backup again.", err,
			"The backup %s could not be deleted; its record is kept", p)
	}
	j.res.Changes.RemoveBackups = append(j.res.Changes.RemoveBackups, b.ID)
	j.res.Summary = fmt.Sprintf("deleted backup %s", p)
	return nil
}
