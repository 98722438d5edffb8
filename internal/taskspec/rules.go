package taskspec

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// kindRefusals are why a target of a kind in a status refuses every task
// whose spec does not list that status in From, whatever its Refuse says.
var kindRefusals = map[domain.TargetKind]map[string]string{
	domain.TargetSite: {
		string(domain.SiteDeleted): "it is deleted",
		string(domain.SitePending): "it is not installed yet; wait for its install task",
		string(domain.SiteFailed):  "its install failed; retry the install or delete it",
	},
	domain.TargetPlatform: {
		string(domain.PlatformDeleted): "it is deleted",
	},
}

// CheckSite says whether a task of type typ may be queued on site now, and
// if not, why, in words the operator can act on: a *domain.ValidationError
// for a type that is not a site task or a bad argument, an error wrapping
// a *domain.TransitionError for a site in the wrong state. It normalises
// args in place (a clone's domain). The state machine decides again when
// the result is applied; this check is what makes a refused request fail
// fast with a clear error instead of a failed task.
func CheckSite(site *domain.Site, typ domain.TaskType, args map[string]string) error {
	return Check(SiteTarget(site), typ, args)
}

// CheckPlatform says whether a task of type typ with args may be queued on
// p now (see CheckSite).
func CheckPlatform(p *domain.Platform, typ domain.TaskType, args map[string]string) error {
	return Check(PlatformTarget(p), typ, args)
}

// CheckServer says whether a task of type typ with args may be queued on
// srv now (see CheckSite).
func CheckServer(srv *domain.Server, typ domain.TaskType, args map[string]string) error {
	return Check(ServerTarget(srv), typ, args)
}

// Check says whether a task of type typ with args may be queued on t now:
// typ must be a task type of t's kind, t must be in a state the task can
// start from, and the arguments must be valid (they are normalised in
// place).
func Check(t Target, typ domain.TaskType, args map[string]string) error {
	s, ok := Lookup(typ)
	if !ok || s.Kind != t.Kind {
		return notOfKind(t.Kind, typ)
	}
	if err := s.CheckTarget(t); err != nil {
		return err
	}
	return s.CheckArgs(args)
}

// CheckTarget says whether the task may start on t in its current state;
// a refusal wraps a *domain.TransitionError.
func (s *Spec) CheckTarget(t Target) error {
	refuse := func(why string) error {
		return fmt.Errorf("cannot %s %s %s: %s: %w", s.Type, t.Kind, t.Name, why,
			&domain.TransitionError{Entity: string(t.Kind), From: t.Status, To: string(s.Type)})
	}
	if !s.StartsFrom(t.Status) {
		if why, ok := kindRefusals[t.Kind][t.Status]; ok {
			return refuse(why)
		}
		return refuse(cmp.Or(s.Refuse, "it is "+t.Status))
	}
	for _, g := range s.Guards {
		if !g.Holds(t) {
			return refuse(g.Refuse)
		}
	}
	return nil
}

// CheckArgs checks the task's arguments, normalising them in place; a
// refusal is a *domain.ValidationError naming the argument.
func (s *Spec) CheckArgs(args map[string]string) error {
	if len(s.AnyOf) > 0 && !slices.ContainsFunc(s.AnyOf, func(n string) bool { return args[n] != "" }) {
		return domain.Invalid("args", "%s", s.AnyOfNeed)
	}
	for i := range s.Args {
		if err := s.Args[i].check(args); err != nil {
			return err
		}
	}
	return nil
}

func (a *Arg) check(args map[string]string) error {
	v, field := args[a.Name], "args."+a.Name
	if v == "" && !a.Required {
		return nil
	}
	switch a.Type {
	case ArgID:
		if domain.ValidID(v) {
			return nil
		}
		if a.Required {
			return domain.Invalid(field, "%s", a.Need)
		}
		return domain.Invalid(field, "is not a %s id", a.Of)
	case ArgDomain:
		d, err := domain.NormalizeDomain(v)
		if err == nil {
			args[a.Name] = d
			return nil
		}
		if a.Required {
			return domain.Invalid(field, "%s: %v", a.Need, err)
		}
		return domain.Invalid(field, "%v", err)
	case ArgCount:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > a.Max {
			return domain.Invalid(field, "%q is not a whole number from 1 to %d", domain.Clip(v), a.Max)
		}
		args[a.Name] = strconv.Itoa(n)
	case ArgBool:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "1", "yes", "on":
			args[a.Name] = "true"
		case "false", "0", "no", "off":
			args[a.Name] = "false"
		default:
			return domain.Invalid(field, "%q is not true or false", domain.Clip(v))
		}
	default:
		if v == "" {
			return domain.Invalid(field, "%s", a.Need)
		}
	}
	return nil
}

// Available returns the specs of the task types that may start on t in its
// current state (arguments aside), sorted by type: the actions a transport
// offers on the target's page, less those whose Form is Hidden.
func Available(t Target) []*Spec {
	return slices.DeleteFunc(For(t.Kind), func(s *Spec) bool { return s.CheckTarget(t) != nil })
}
