package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/taskspec"
)

// platformMigrateVerb is `aegir platform migrate A -to B`: one
// migrate-sites task, which migrates each site in a child task of its own.
var platformMigrateVerb = &verb{
	name: "migrate", args: "NAME|ID -to PLATFORM [-sites D1,D2] [-parallel N] [-continue] [-yes] [-wait]",
	summary: mustSpec(domain.TaskMigrateSites).Summary + " Stops at the first failure unless -continue; each failed site is put back as it was.",
	run:     platformMigrate,
	examples: []string{
		"aegir platform migrate drupal10 -to drupal10-2 -yes -wait",
		"aegir platform migrate drupal10 -to drupal10-2 -sites a.example.com,b.example.com -parallel 2 -continue -yes",
	},
}

func platformMigrate(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	to := fs.String("to", "", "the platform the sites move to (name or id; required)")
	var sites stringList
	fs.Var(&sites, "sites", "only these sites (domains); repeat or separate with commas; every installed site if not given")
	parallel := fs.Int("parallel", 1, fmt.Sprintf("how many sites migrate at once (1 to %d)", taskspec.MaxBatchParallel))
	keepGoing := fs.Bool("continue", false, "migrate the other sites when one fails (default: stop at the first failure)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	tf := taskFlags(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *to == "" {
		return usagef("platform migrate needs -to, the platform the sites move to")
	}
	if *parallel < 1 || *parallel > taskspec.MaxBatchParallel {
		return usagef("-parallel %d: use a number from 1 to %d", *parallel, taskspec.MaxBatchParallel)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	p, _, err := platformResource.find(ctx, c, pos[0])
	if err != nil {
		return err
	}
	dest, _, err := platformResource.find(ctx, c, *to)
	if err != nil {
		return err
	}
	targs := map[string]string{"to_platform_id": dest.ID, "parallel": strconv.Itoa(*parallel), "continue": strconv.FormatBool(*keepGoing)}
	what := "every site of platform " + p.Name
	if len(sites) > 0 {
		targs["sites"] = strings.Join(sites, ",")
		what = fmt.Sprintf("%d sites of platform %s", len(sites), p.Name)
	}
	if err := a.confirm(*yes, "migrate "+what+" to "+dest.Name, p.Name); err != nil {
		return err
	}
	return a.queueTask(ctx, c, tf, "platforms", p.ID, string(domain.TaskMigrateSites), targs)
}
