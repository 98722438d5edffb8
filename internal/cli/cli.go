package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"
)

// Exit codes. Scripts may rely on them.
const (
	ExitOK          = 0 // success
	ExitFailed      = 1 // the API refused the operation, or the task failed
	ExitUsage       = 2 // unknown command or flag, bad arguments
	ExitUnreachable = 3 // cannot reach the API, or authentication failed
	ExitForbidden   = 4 // authenticated, but the user may not do this (403)
)

// DefaultAddr is the API address used when AEGIR_ADDR is not set.
const DefaultAddr = "http://127.0.0.1:8480"

// noun is a group of verbs: "site", "task" ... A noun with run instead of
// verbs is a command of its own ("aegir status -json").
type noun struct {
	name    string
	summary string
	verbs   []*verb
	run     *verb // name ""; its flags follow the noun
}

// verb is one command: "site create".
type verb struct {
	name     string
	args     string // synopsis after "aegir <noun> <verb>"
	summary  string
	examples []string
	run      func(ctx context.Context, a *app, args []string) error
}

// nouns is the command table, in the order help lists it.
var nouns = []*noun{siteNoun, platformNoun, serverNoun, serviceNoun, clientNoun, taskNoun, userNoun, tokenNoun}

// Nouns returns the nouns Run handles, so the root command can route and
// print help.
func Nouns() []string {
	out := make([]string, len(nouns))
	for i, n := range nouns {
		out[i] = n.name
	}
	return out
}

// Handles reports whether args (without the program name) are a client
// command for Run. It exists for "server", which is also the production
// entry point: `aegir server list` is a client command, `aegir server
// -config x.hcl` and `aegir server run` are not. A bare `aegir server` is
// not either: the root command passes it to Run for the noun's help, so
// that it never starts production by accident.
func Handles(args []string) bool {
	if len(args) == 0 {
		return false
	}
	if args[0] == "help" {
		return len(args) > 1 && findNoun(args[1]) != nil
	}
	n := findNoun(args[0])
	if n == nil {
		return false
	}
	if n.name != "server" {
		return true
	}
	return len(args) > 1 && n.findVerb(args[1]) != nil
}

// Run runs a client command: args like ["site", "list", "-json"]. env looks
// up AEGIR_ADDR and AEGIR_TOKEN. Run also answers ["help"] and
// ["help", "site"]. It returns the exit code.
func Run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	a := &app{
		env:    env,
		stdin:  os.Stdin,
		isTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		stdout: stdout,
		stderr: stderr,
		readPassword: func() (string, error) {
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			return string(b), err
		},
	}
	return a.main(ctx, args)
}

// app is one invocation of the CLI: its environment, streams and API client.
type app struct {
	env          func(string) string
	stdin        io.Reader
	isTTY        bool // stdin is a terminal: prompts are possible
	stdout       io.Writer
	stderr       io.Writer
	readPassword func() (string, error) // reads a line without echo; terminals only

	httpClient *http.Client  // nil: a default client
	retryDelay time.Duration // first reconnect delay when following logs; 0: 250ms
	pollEvery  time.Duration // polling interval for tasks and plain logs; 0: 1s

	noun *noun // the command being run, for usage messages
	verb *verb
	api  *api // built on first use
}

func findNoun(name string) *noun {
	for _, n := range nouns {
		if n.name == name {
			return n
		}
	}
	return nil
}

func (n *noun) findVerb(name string) *verb {
	for _, v := range n.verbs {
		if v.name == name {
			return v
		}
	}
	return nil
}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" || s == "help" }

func (a *app) main(ctx context.Context, args []string) int {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) > 1 {
			return a.helpFor(args[1:])
		}
		Help(a.stdout)
		return ExitOK
	}
	n := findNoun(args[0])
	if n == nil {
		fmt.Fprintf(a.stderr, "Error: unknown command %q%s; the client commands are: %s\nRun 'aegir help' for usage.\n",
			args[0], didYouMean(args[0], Nouns()), strings.Join(Nouns(), ", "))
		return ExitUsage
	}
	a.noun = n
	if n.run != nil {
		a.verb = n.run
		return a.exit(n.run.run(ctx, a, args[1:]))
	}
	if len(args) == 1 || isHelp(args[1]) {
		if len(args) == 1 {
			n.usage(a.stderr)
			return ExitUsage
		}
		n.usage(a.stdout)
		return ExitOK
	}
	v := n.findVerb(args[1])
	if v == nil {
		fmt.Fprintf(a.stderr, "Error: unknown command \"%s %s\"%s\n", n.name, args[1], didYouMean(args[1], n.verbNames()))
		n.usage(a.stderr)
		return ExitUsage
	}
	a.verb = v
	return a.exit(v.run(ctx, a, args[2:]))
}

// helpFor answers `aegir help site` and `aegir help site create`.
func (a *app) helpFor(args []string) int {
	n := findNoun(args[0])
	if n == nil {
		fmt.Fprintf(a.stderr, "Error: no help for %q%s; the client commands are: %s\n", args[0], didYouMean(args[0], Nouns()), strings.Join(Nouns(), ", "))
		return ExitUsage
	}
	if n.run != nil {
		a.noun, a.verb = n, n.run
		return a.exit(n.run.run(context.Background(), a, []string{"-h"}))
	}
	if len(args) == 1 {
		n.usage(a.stdout)
		return ExitOK
	}
	v := n.findVerb(args[1])
	if v == nil {
		fmt.Fprintf(a.stderr, "Error: unknown command \"%s %s\"%s\n", n.name, args[1], didYouMean(args[1], n.verbNames()))
		n.usage(a.stderr)
		return ExitUsage
	}
	a.noun, a.verb = n, v
	return a.exit(v.run(context.Background(), a, []string{"-h"}))
}

// Errors that decide the exit code.
var (
	// errHelpShown means -h printed the usage: exit 0.
	errHelpShown = errors.New("help shown")
)

// usageError is a mistake in the command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// connError means the API could not be reached or would not authenticate
// us: exit 3.
type connError struct{ msg string }

func (e *connError) Error() string { return e.msg }

// taskError is a task that ended other than succeeded: exit 1. Its details
// have been printed already.
type taskError struct{ id, status string }

func (e *taskError) Error() string { return fmt.Sprintf("task %s %s", e.id, e.status) }

// exit prints err and maps it to an exit code.
func (a *app) exit(err error) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return ExitOK
	}
	var ue *usageError
	var ce *connError
	var ae *APIError
	var te *taskError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "Error: %s\n", ue.msg)
		if a.verb != nil {
			fmt.Fprintf(a.stderr, "Run 'aegir %s -h' for usage.\n", a.command())
		}
		return ExitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(a.stderr, "Error: %s\n", ce.msg)
		return ExitUnreachable
	case errors.As(err, &ae):
		fmt.Fprintf(a.stderr, "Error: %s\n", ae.Error())
		switch ae.Status {
		case http.StatusUnauthorized:
			// The API's words are for any client; say what this one does
			// about it (a new token needs a working one).
			fmt.Fprintln(a.stderr, unauthorizedHint)
			return ExitUnreachable
		case http.StatusForbidden:
			// The token works; it is the wrong one for this. Scripts
			// told "not authenticated" would renew a token that is fine.
			return ExitForbidden
		}
		return ExitFailed
	case errors.As(err, &te):
		return ExitFailed // the task's outcome is printed already
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(a.stderr, "Error: interrupted")
		return ExitFailed
	default:
		fmt.Fprintf(a.stderr, "Error: %v\n", err)
		return ExitFailed
	}
}

// Help prints the overview of the client commands and the exit codes, for
// `aegir help`.
func Help(w io.Writer) {
	fmt.Fprint(w, `Usage: aegir <command> <verb> [flags] [args]

Client commands (talk to the REST API at $AEGIR_ADDR with $AEGIR_TOKEN):
`)
	for _, n := range nouns {
		fmt.Fprintf(w, "  %-9s %s\n", n.name, n.summary)
	}
	fmt.Fprint(w, `
Run 'aegir <command> -h' for its verbs and 'aegir <command> <verb> -h' for
flags and examples. Flags may come before or after the arguments.

Environment:
  AEGIR_ADDR   address of the API (default `+DefaultAddr+`)
  AEGIR_TOKEN  API token; the admin's is in <data-dir>/admin-token:
               export AEGIR_TOKEN=$(cat <data-dir>/admin-token)

Exit codes:
  0  success (with -wait or 'task logs -f': the task succeeded)
  1  the operation failed: an API error, or the task failed or was cancelled
     ('status': a component is down)
  2  usage error: unknown command or flag, bad arguments, missing -yes
  3  cannot reach the API, or the token is missing or not accepted
  4  forbidden: the token is accepted but its user may not do this

Examples:
  aegir site list -status enabled
  aegir site create example.com -platform drupal10 -db-server db1 -client acme -wait
  aegir task logs -f 01hx2y3z4a5b6c7d8e9f && echo ok
`)
}

func (n *noun) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: aegir %s <verb> [flags] [args]\n\n%s\n\nVerbs:\n", n.name, n.summary)
	for _, v := range n.verbs {
		fmt.Fprintf(w, "  %-12s %s\n", v.name, v.summary)
	}
	fmt.Fprintf(w, "\nRun 'aegir %s <verb> -h' for flags and examples.\n", n.name)
}

// command is the command being run: "site create", or "status".
func (a *app) command() string {
	if a.verb.name == "" {
		return a.noun.name
	}
	return a.noun.name + " " + a.verb.name
}

func (a *app) usageOf(w io.Writer, printFlags func()) {
	v := a.verb
	fmt.Fprintf(w, "Usage: aegir %s %s\n\n%s\n", a.command(), v.args, v.summary)
	if printFlags != nil {
		fmt.Fprintln(w, "\nFlags:")
		printFlags()
	}
	if len(v.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, e := range v.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// has reports whether name is among names.
func has(names []string, name string) bool { return slices.Contains(names, name) }
