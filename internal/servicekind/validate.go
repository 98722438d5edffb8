package servicekind

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// AbsPath accepts an absolute, clean path of letters, digits, '/', '.',
// '_' and '-' other than "/" (what domain.ValidatePath accepts).
func AbsPath(p string) error {
	switch {
	case len(p) > 1024:
		return errors.New("is longer than 1024 characters")
	case !path.IsAbs(p):
		return fmt.Errorf("%q must be an absolute path", p)
	case path.Clean(p) != p:
		return fmt.Errorf("%q must be a clean path (no '..', '//' or trailing '/')", p)
	case p == "/":
		return errors.New("must not be the root directory")
	}
	if !only(p, "/._-") {
		return fmt.Errorf("%q may contain only letters, digits, '/', '.', '_' and '-'", p)
	}
	return nil
}

// Host accepts a host name or an IP address (IPv6 with or without
// brackets).
func Host(h string) error {
	if len(h) > 253 || !only(h, ".-:[]") {
		return fmt.Errorf("%q is not a host name or address", h)
	}
	return nil
}

// Program accepts a program name looked up on PATH, or an absolute path.
func Program(p string) error {
	if strings.Contains(p, "/") {
		return AbsPath(p)
	}
	if len(p) > 128 || !only(p, "._-") {
		return fmt.Errorf("%q is not a program name", p)
	}
	return nil
}

// ProgramNamed accepts one of names, looked up on PATH, or an absolute
// path whose last element is one of them: a setting that names a
// program aegir runs as root (nginx's binary) may say where it is, not
// which program it is, so "/bin/sh" is refused.
func ProgramNamed(names ...string) func(string) error {
	return func(p string) error {
		if err := Program(p); err != nil {
			return err
		}
		if !slices.Contains(names, path.Base(p)) {
			return fmt.Errorf("%q must be %s, or an absolute path ending in /%s", p, strings.Join(names, " or "), strings.Join(names, " or /"))
		}
		return nil
	}
}

// ProgramPrefixed accepts a program named prefix or prefix followed by
// a version of digits and dots ("php-fpm", "php-fpm8.2"), on PATH or as
// an absolute path ending in such a name.
func ProgramPrefixed(prefix string) func(string) error {
	return func(p string) error {
		if err := Program(p); err != nil {
			return err
		}
		rest, ok := strings.CutPrefix(path.Base(p), prefix)
		if !ok || rest != "" && (!only(rest, ".") || strings.Trim(rest, "0123456789.") != "" || rest[0] == '.') {
			return fmt.Errorf("%q must be %s or %sX.Y, or an absolute path ending in one of them", p, prefix, prefix)
		}
		return nil
	}
}

// IntRange accepts a decimal integer from min to max.
func IntRange(min, max int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || !only(v, "") {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if n < min || n > max {
			return fmt.Errorf("%d is out of bounds: it must be from %d to %d", n, min, max)
		}
		return nil
	}
}

// FastCGIAddr accepts "unix:/abs/path.sock" or "host:port".
func FastCGIAddr(a string) error {
	if s, ok := strings.CutPrefix(a, "unix:"); ok {
		return AbsPath(s)
	}
	i := strings.LastIndexByte(a, ':')
	if i <= 0 || i == len(a)-1 || Host(a[:i]) != nil || !only(a[i+1:], "") {
		return fmt.Errorf("%q is not unix:/path.sock or host:port", a)
	}
	return nil
}

// OneOf accepts exactly one of values.
func OneOf(values ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(values, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(values, ", "))
		}
		return nil
	}
}

// only reports whether s is non-empty and holds only ASCII letters,
// digits and the bytes in extra.
func only(s, extra string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// UnixName accepts a Unix user or group name as useradd takes it by
// default: a lower-case letter or '_' first, then lower-case letters,
// digits, '_' and '-', at most 32 bytes.
func UnixName(n string) error {
	if len(n) > 32 || !only(n, "_-") || !(n[0] >= 'a' && n[0] <= 'z' || n[0] == '_') || strings.ToLower(n) != n {
		return fmt.Errorf("%q is not a Unix user or group name (a-z or _ first, then a-z, 0-9, _ and -, at most 32)", n)
	}
	return nil
}

// HostList accepts a comma-separated list of host names or IP addresses
// (no wildcards: '%' and '_' are refused, so a database account is never
// open to every host).
func HostList(v string) error {
	for _, h := range strings.Split(v, ",") {
		h = strings.TrimSpace(h)
		if len(h) > 255 || !only(h, ".-:") {
			return fmt.Errorf("%q is not a host name or IP address (letters, digits, '.', '-', ':'; no wildcards)", h)
		}
	}
	return nil
}
