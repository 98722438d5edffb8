package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
)

// flags returns a flag set for the current verb. Parse errors and -h are
// handled by parse, never by the flag package printing on its own.
func (a *app) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(a.command(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args, allowing flags before and after the positional
// arguments ("site create example.com -platform p" and "site create
// -platform p example.com" both work; after "--" everything is
// positional). It checks that there are between min and max positional
// arguments (max < 0: no limit) and answers -h with the verb's usage.
func (a *app) parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			a.usageOf(a.stdout, func() {
				fs.SetOutput(a.stdout)
				fs.PrintDefaults()
				fs.SetOutput(io.Discard)
			})
			return nil, errHelpShown
		}
		if err != nil {
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < min && min == max && min == 1:
		return nil, usagef("missing argument: aegir %s %s", a.command(), a.verb.args)
	case len(pos) < min:
		return nil, usagef("expected %d arguments, got %d: aegir %s %s", min, len(pos), a.command(), a.verb.args)
	case max >= 0 && len(pos) > max:
		return nil, usagef("unexpected argument %q: aegir %s %s", pos[max], a.command(), a.verb.args)
	}
	return pos, nil
}

// connect parses args as parse does and then returns the API client: the
// start of every command that has nothing to check between the two. (A
// command line's mistakes are reported before a missing token.)
func (a *app) connect(fs *flag.FlagSet, args []string, min, max int) ([]string, *api, error) {
	pos, err := a.parse(fs, args, min, max)
	if err != nil {
		return nil, nil, err
	}
	c, err := a.client()
	if err != nil {
		return nil, nil, err
	}
	return pos, c, nil
}

// stringList is a repeatable string flag: -alias a -alias b. A value with
// commas is split: -alias a,b.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// optBool is a bool flag that remembers whether it was given, for edits
// that change only what was asked: -redirect-aliases=false.
type optBool struct {
	set, val bool
}

func (b *optBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	if b.val {
		return "true"
	}
	return "false"
}

func (b *optBool) Set(v string) error {
	switch strings.ToLower(v) {
	case "1", "t", "true", "yes":
		b.val = true
	case "0", "f", "false", "no":
		b.val = false
	default:
		return errors.New("want true or false")
	}
	b.set = true
	return nil
}

func (b *optBool) IsBoolFlag() bool { return true }
