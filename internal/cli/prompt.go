package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// errNotConfirmed means the user typed something other than the name asked
// for: nothing was done.
var errNotConfirmed = errors.New("confirmation did not match; nothing was done")

// confirm guards a destructive command. With -yes it passes; on a terminal
// it asks the user to type want (a domain or name); otherwise it refuses,
// because a script that forgot -yes must not destroy anything.
func (a *app) confirm(yes bool, what, want string) error {
	if yes {
		return nil
	}
	if !a.isTTY {
		return usagef("refusing to %s without -yes: stdin is not a terminal, so nobody can confirm it", what)
	}
	fmt.Fprintf(a.stderr, "This will %s. Type %q to confirm: ", what, want)
	line, err := readLine(a.stdin)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if strings.TrimSpace(line) != want {
		return errNotConfirmed
	}
	return nil
}

// ask guards a task the opposite task undoes (disable, migrate: their
// spec's Form.Ask). With -yes, or when stdin is not a terminal (a script),
// it passes; on a terminal it asks a plain yes or no, and anything but
// y or yes does nothing.
func (a *app) ask(yes bool, question string) error {
	if yes || !a.isTTY {
		return nil
	}
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	line, err := readLine(a.stdin)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errNotConfirmed
}

// readSecret reads a password: from a prompt without echo on a terminal,
// else the first line of stdin. Secrets never come from flags, which land
// in shell history and in ps output.
func (a *app) readSecret(prompt string) (string, error) {
	var s string
	if a.isTTY && a.readPassword != nil {
		fmt.Fprint(a.stderr, prompt)
		p, err := a.readPassword()
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		s = p
	} else {
		line, err := readLine(a.stdin)
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		s = line
	}
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return "", usagef("empty password: pipe it on stdin (printf '%%s' \"$PASS\" | aegir ...) or run from a terminal to be prompted")
	}
	return s, nil
}

// maxLine bounds a line read from stdin (a password, a confirmation).
const maxLine = 4096

// readLine reads one line a byte at a time, so that nothing past it is
// taken from stdin.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	var c [1]byte
	for b.Len() < maxLine {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				return strings.TrimRight(b.String(), "\r"), nil
			}
			b.WriteByte(c[0])
			continue
		}
		if err != nil {
			return b.String(), err
		}
	}
	return "", fmt.Errorf("line longer than %d bytes", maxLine)
}
