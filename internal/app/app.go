// Package app is aegir's command line entry: it routes the first argument
// to a process role (dev, server, provision, queue) or to the CLI client
// (every noun), and assembles the components each role runs.
package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/aegirhq/aegir/internal/cli"
)

// Version is aegir's version, set at build time with -ldflags.
var Version = "dev"

// Main runs aegir with args (without the program name) and returns the
// exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	// "aegir server list" is the CLI; "aegir server run" and "aegir server
	// -config F" are the role; a bare "aegir server" is the noun's help.
	if cli.Handles(args) {
		return cli.Run(ctx, args, os.Getenv, stdout, stderr)
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "server":
		switch {
		case len(args) == 1:
			// A bare "aegir server" is someone looking for the server
			// noun's verbs, not starting production (the daemon's
			// configuration comes with flags, or "aegir server run").
			return cli.Run(ctx, args, os.Getenv, stdout, stderr)
		case args[1] == "run":
			return runServer(ctx, args[2:], stdout, stderr)
		}
		return runServer(ctx, args[1:], stdout, stderr)
	case "provision":
		return runProvision(ctx, args[1:], stdin, stdout, stderr)
	case "queue":
		return runQueue(ctx, args[1:], stdout, stderr)
	case "jobspec":
		return runJobspec(args[1:], stdout, stderr)
	case "admin":
		return runAdmin(ctx, args[1:], stdin, stdout, stderr)
	case "version", "-version", "--version", "-v":
		fmt.Fprintln(stdout, "aegir", Version)
		return 0
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && slices.Contains(cli.Nouns(), args[1]) {
			return cli.Run(ctx, args, os.Getenv, stdout, stderr)
		}
		if len(args) > 1 && args[1] == "admin" {
			fmt.Fprint(stdout, adminUsage)
			return 0
		}
		if len(args) > 1 && !slices.Contains(roles, args[1]) {
			fmt.Fprintf(stderr, "aegir: no help for %q%s\n\n", args[1], suggestion(args[1]))
			usage(stderr)
			return 2
		}
		usage(stdout)
		return 0
	}
	if slices.Contains(cli.Nouns(), args[0]) {
		return cli.Run(ctx, args, os.Getenv, stdout, stderr)
	}
	fmt.Fprintf(stderr, "aegir: unknown command %q%s\n\n", args[0], suggestion(args[0]))
	usage(stderr)
	return 2
}

// roles are the commands run routes to a process role rather than to the
// CLI client.
var roles = []string{"dev", "server", "provision", "queue", "jobspec", "version", "help", "admin"}

// suggestion is ` (did you mean "x"?)` for a mistyped command, or "".
func suggestion(word string) string {
	if s := cli.Suggest(word, append(slices.Clone(roles), cli.Nouns()...)); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `aegir — a hosting control plane: many sites, many servers, every change a task.

Usage: aegir <command> [flags]

Process roles:
  dev         all in one process on embedded defaults (bbolt store, local tasks,
              builtin web server, SQLite); nothing to install
  server      production: API + dispatcher, configured by -config FILE, env, flags
              ("aegir server run [flags]"; a bare "aegir server" lists its verbs)
  provision   the back end: "aegir provision run --context FILE|-" runs one task
  jobspec     print a Nomad jobspec with variables set, for "nomad job run -"
  admin       disaster recovery: export | import the whole store, rebuild every site

Client commands (talk to the API at $AEGIR_ADDR with $AEGIR_TOKEN):
  %s

Run "aegir <command> -h" for a command's flags, "aegir help <noun>" for its verbs.
Exit codes: 0 ok, 1 the operation or its task failed, 2 usage error,
3 cannot reach the API or not authenticated, 4 forbidden.
`, strings.Join(cli.Nouns(), " "))
}
