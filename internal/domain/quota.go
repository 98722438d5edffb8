package domain

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The quotas a client can be held to. Each is a limit on what the
// client's users may ask for; an admin's requests are not refused by them
// (but what an admin made for a client counts towards its quotas).
const (
	// QuotaTasks is how many tasks the client's users may have queued or
	// running at once.
	QuotaTasks = "tasks"
	// QuotaBackups is how many manual backups the client's sites may keep
	// (those stored and those being made). Beyond it a backup request is
	// refused: nothing is deleted to make room (delete one first). The
	// scheduled backups, which retention prunes, do not count.
	QuotaBackups = "backups"
	// QuotaSites is how many sites the client may own (those that exist
	// and those being cloned).
	QuotaSites = "sites"
	// QuotaDisk is how many bytes the client may use: its sites' files and
	// databases as their latest stats measured them, and its backups'
	// archives. At or over it, requests that add to it (a new site, a
	// clone, a backup) are refused.
	QuotaDisk = "disk"
)

// QuotaNames are the quotas, in the order they are shown.
var QuotaNames = []string{QuotaTasks, QuotaBackups, QuotaSites, QuotaDisk}

// quotaWhat says what each quota counts, for messages.
var quotaWhat = map[string]string{
	QuotaTasks:   "tasks queued or running at once",
	QuotaBackups: "manual backups kept",
	QuotaSites:   "sites",
	QuotaDisk:    "bytes of disk",
}

// Quotas are limits by quota name. On a client they are its overrides: a
// name that is missing takes the server's default. A limit of 0 means no
// limit.
type Quotas map[string]int64

// Validate checks the names and that no limit is negative; field names the
// map in errors ("quotas").
func (q Quotas) Validate(field string) error {
	for k, v := range q {
		if !slices.Contains(QuotaNames, k) {
			return Invalid(field+"."+Clip(k), "is not a quota; use one of %s", strings.Join(QuotaNames, ", "))
		}
		if v < 0 {
			return Invalid(field+"."+k, "must not be negative (0 means no limit)")
		}
	}
	return nil
}

// Over returns overrides laid over q (the defaults): the limits that
// apply.
func (q Quotas) Over(overrides Quotas) Quotas {
	out := Quotas{}
	for _, k := range QuotaNames {
		if v, ok := overrides[k]; ok {
			out[k] = v
		} else {
			out[k] = q[k]
		}
	}
	return out
}

// ParseQuota reads a limit as people write it: a whole number, and for
// disk also a size with a unit (500M, 10G, 1T; powers of 1024). "0" or
// "unlimited" is no limit.
func ParseQuota(name, s string) (int64, error) {
	field := "quotas." + Clip(name)
	if !slices.Contains(QuotaNames, name) {
		return 0, Invalid(field, "is not a quota; use one of %s", strings.Join(QuotaNames, ", "))
	}
	s = strings.TrimSpace(s)
	if s == "unlimited" {
		return 0, nil
	}
	mult := int64(1)
	if name == QuotaDisk && s != "" {
		units := map[byte]int64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
		u := strings.ToUpper(s)
		u = strings.TrimSuffix(strings.TrimSuffix(u, "B"), "I")
		s = u
		if len(u) > 1 {
			if m, ok := units[u[len(u)-1]]; ok {
				mult, s = m, u[:len(u)-1]
			}
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		if name == QuotaDisk {
			return 0, Invalid(field, "%q is not a size like 500M or 10G (0 for no limit)", Clip(s))
		}
		return 0, Invalid(field, "%q is not a whole number (0 for no limit)", Clip(s))
	}
	return n * mult, nil
}

// FormatQuota writes a limit or an amount of quota name for people.
func FormatQuota(name string, n int64) string {
	if name != QuotaDisk {
		return strconv.FormatInt(n, 10)
	}
	for _, u := range []struct {
		s string
		n int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.s
		}
	}
	if n >= 1<<20 {
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + "G"
	}
	return strconv.FormatInt(n, 10)
}

// ErrQuotaExceeded is the identity of a *QuotaError.
var ErrQuotaExceeded = errors.New("quota exceeded")

// QuotaError refuses a request that would take a client over one of its
// quotas.
type QuotaError struct {
	Quota  string // QuotaTasks, QuotaBackups...
	Client string // the client's name
	Limit  int64
	Used   int64 // what the client holds now
}

func (e *QuotaError) Error() string {
	what := quotaWhat[e.Quota]
	hint := "ask an administrator to raise it"
	switch e.Quota {
	case QuotaTasks:
		hint = "wait for some to finish, or " + hint
	case QuotaBackups:
		hint = "delete an old manual backup first, or " + hint
	case QuotaSites:
		hint = "delete a site first, or " + hint
	case QuotaDisk:
		hint = "delete backups or files first, or " + hint
	}
	return fmt.Sprintf("client %s is at its %s quota: %s of %s %s; %s",
		e.Client, e.Quota, FormatQuota(e.Quota, e.Used), FormatQuota(e.Quota, e.Limit), what, hint)
}

func (e *QuotaError) Unwrap() error { return ErrQuotaExceeded }
