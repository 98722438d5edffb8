package app

import (
	"context"
	"io"
	"os"

	"github.com/aegirhq/aegir/internal/cli"
)

// runQueue is "aegir queue run NAME": one pass of a periodic queue (cron,
// backup, stats), as the aegir-queue-NAME Nomad periodic job starts it. It
// is the CLI's "queue run": it asks the API at $AEGIR_ADDR (with
// $AEGIR_TOKEN) to run the pass, so the pass runs in the server next to the
// store and dispatcher (scheduler/queue), and the process role and the CLI
// noun are one command. cli.Handles routes "queue ..." before this is
// reached; it stays for callers that name the role directly.
func runQueue(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Run(ctx, append([]string{"queue"}, args...), os.Getenv, stdout, stderr)
}
