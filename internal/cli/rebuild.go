package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// adminNoun is "aegir admin": export and import are process roles (they
// open the store, internal/app); rebuild is a client of the API, here.
var adminNoun = &noun{name: "admin", summary: "Export, import and rebuild the whole installation (disaster recovery)."}

var rebuildVerb = &verb{name: "rebuild", args: "[-site DOMAIN]... [-json]",
	summary:  "Restore every installed site from its newest backup, reporting per site (after 'aegir admin import' on a fresh cluster).",
	examples: []string{"aegir admin rebuild", "aegir admin rebuild -site example.com -site example.org"},
	run:      adminRebuild}

// Rebuild runs "aegir admin rebuild" with args (after the verb) and
// returns the exit code: 0 when every site was restored, 1 when one was
// not (each is reported).
func Rebuild(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	a := &app{env: env, stdin: os.Stdin, stdout: stdout, stderr: stderr, noun: adminNoun, verb: rebuildVerb}
	return a.exit(rebuildVerb.run(ctx, a, args))
}

// RebuildReport is one site's line of a rebuild.
type RebuildReport struct {
	Site        string `json:"site"`
	Backup      string `json:"backup,omitempty"`
	Task        string `json:"task,omitempty"`
	Outcome     string `json:"outcome"` // restored, failed, skipped
	Explanation string `json:"explanation,omitempty"`
}

// errRebuildIncomplete is returned when a site was not restored; the
// report says which and why.
var errRebuildIncomplete = errors.New("rebuild incomplete")

func adminRebuild(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	var only stringList
	fs.Var(&only, "site", "rebuild only this site (domain or id; repeatable); default every installed site")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var sites []domain.Site
	if len(only) > 0 {
		for _, ref := range only {
			s, _, err := siteResource.find(ctx, c, ref)
			if err != nil {
				return err
			}
			sites = append(sites, *s)
		}
	} else {
		for offset := 0; ; {
			var p page[domain.Site]
			if _, err := c.get(ctx, c.path("sites"), url.Values{"limit": {"1000"}, "offset": {strconv.Itoa(offset)}}, &p); err != nil {
				return err
			}
			sites = append(sites, p.Items...)
			offset += len(p.Items)
			if len(p.Items) == 0 || offset >= p.Total {
				break
			}
		}
	}

	// Queue every restore first (the dispatcher runs them max_parallel at
	// a time, one per site), then wait for them all.
	reports := make([]RebuildReport, len(sites))
	for i := range sites {
		s := &sites[i]
		r := &reports[i]
		r.Site = s.Domain
		if s.Status != domain.SiteEnabled && s.Status != domain.SiteDisabled {
			r.Outcome, r.Explanation = "skipped", "the site is "+string(s.Status)+", not installed"
			continue
		}
		b, err := newestBackup(ctx, c, s)
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == "not_found" {
			r.Outcome, r.Explanation = "skipped", "no backup"
			continue
		} else if err != nil {
			return err
		}
		r.Backup = b.ID
		var t domain.Task
		if _, err := c.post(ctx, c.path("sites", s.ID, "tasks"), map[string]any{"type": string(domain.TaskRestore), "args": map[string]string{"backup_id": b.ID}}, &t); err != nil {
			r.Outcome, r.Explanation = "failed", err.Error()
			continue
		}
		r.Task = t.ID
		fmt.Fprintf(a.stderr, "%s: restoring backup %s (%s) in task %s\n", sanitize(s.Domain), b.ID, when(b.CreatedAt), t.ID)
	}
	every := cmpDur(a.pollEvery, time.Second)
	for i := range reports {
		r := &reports[i]
		if r.Task == "" {
			continue
		}
		for {
			t, err := a.getTask(ctx, c, r.Task)
			if err != nil {
				return err
			}
			if t.Status.Done() {
				if t.Status == domain.TaskSucceeded {
					r.Outcome = "restored"
				} else {
					r.Outcome = "failed"
					r.Explanation = string(t.Status) + ": " + t.Explanation
					if t.ErrorCode != "" {
						r.Explanation += " (" + t.ErrorCode + ")"
					}
				}
				break
			}
			if err := sleep(ctx, every); err != nil {
				return err
			}
		}
	}

	incomplete := false
	for _, r := range reports {
		incomplete = incomplete || r.Outcome != "restored"
	}
	if *asJSON {
		b, err := json.MarshalIndent(reports, "", "  ")
		if err != nil {
			return err
		}
		if err := a.printJSON(b); err != nil {
			return err
		}
	} else {
		tb := newTable(a.stdout, "SITE", "OUTCOME", "BACKUP", "TASK", "WHY")
		for _, r := range reports {
			tb.row(r.Site, r.Outcome, r.Backup, r.Task, r.Explanation)
		}
		if err := tb.flush(); err != nil {
			return err
		}
	}
	if incomplete {
		return fmt.Errorf("%w: not every site was restored (see the report)", errRebuildIncomplete)
	}
	return nil
}
