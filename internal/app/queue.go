package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
)

var queueNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// runQueue is "aegir queue run NAME": one pass of a periodic queue (cron,
// backup, stats), started by the aegir-queue-NAME Nomad job. The queue
// semantics (which sites are due, queueing their tasks through the API at
// $AEGIR_ADDR) are their own issue; this pass only reports itself, so the
// periodic mechanism can be run and tested end to end.
func runQueue(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "usage: aegir queue run NAME   (NAME: cron, backup, stats)"
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("aegir queue run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 || !queueNameRE.MatchString(fs.Arg(0)) {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	name := fs.Arg(0)
	if err := ctx.Err(); err != nil {
		return 1
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("component", "queue", "queue", name)
	due := 0
	log.Info(fmt.Sprintf("queue %s pass: %d sites due", name, due))
	fmt.Fprintf(stdout, "queue %s pass: %d sites due\n", name, due)
	return 0
}
