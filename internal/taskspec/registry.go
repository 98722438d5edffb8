package taskspec

import (
	"cmp"
	"slices"

	"github.com/aegirhq/aegir/internal/domain"
)

// specs lists every task type. A new task type's spec goes here, in its
// own file (see doc.go).
var specs = []*Spec{
	// Site tasks.
	&install, &verify, &backup, &restore, &disable, &enable,
	&clone, &migrate, &deleteSite, &rotateCredentials, &certificate,
	&releaseOldPlace,     // queued by migrate's result
	&removeReplacedFiles, // queued by restore's result
	// Site tasks of the periodic queues.
	&cron, &stats, &deleteBackup, &verifyBackup,
	// Platform tasks.
	&verifyPlatform, &importSites, &lock, &unlock, &deletePlatform,
	&migrateSites,
	// Server tasks.
	&verifyServer,
	&deleteBackupOfDeletedSite, // queued through the backup (store.RequestBackupTask)
}

var byType = func() map[domain.TaskType]*Spec {
	m := make(map[domain.TaskType]*Spec, len(specs))
	for _, s := range specs {
		m[s.Type] = s
	}
	return m
}()

// Lookup returns the spec of task type t. The spec is shared: read it,
// never change it.
func Lookup(t domain.TaskType) (*Spec, bool) {
	s, ok := byType[t]
	return s, ok
}

// All returns every spec, sorted by type (shared, like Lookup's).
func All() []*Spec {
	out := slices.Clone(specs)
	slices.SortFunc(out, func(a, b *Spec) int { return cmp.Compare(a.Type, b.Type) })
	return out
}

// For returns the specs of the task types that operate on kind, sorted by
// type (shared, like Lookup's).
func For(kind domain.TargetKind) []*Spec {
	return slices.DeleteFunc(All(), func(s *Spec) bool { return s.Kind != kind })
}

// Types returns the task types that operate on kind, sorted.
func Types(kind domain.TargetKind) []domain.TaskType {
	var out []domain.TaskType
	for _, s := range For(kind) {
		out = append(out, s.Type)
	}
	return out
}

// Resolve returns the spec that name means on a target of kind: the task
// type of that name, or the one with that alias ("delete" on a platform is
// delete-platform). Anything else is a *domain.ValidationError listing the
// kind's task types.
func Resolve(kind domain.TargetKind, name string) (*Spec, error) {
	t := domain.TaskType(name)
	if s, ok := byType[t]; ok && s.Kind == kind {
		return s, nil
	}
	for _, s := range specs {
		if s.Kind == kind && slices.Contains(s.Aliases, t) {
			return s, nil
		}
	}
	return nil, notOfKind(kind, t)
}

func notOfKind(kind domain.TargetKind, t domain.TaskType) error {
	return domain.Invalid("type", "%q is not a %s task; use one of %v", domain.Clip(string(t)), kind, Types(kind))
}

// NewTask returns a queued task of type typ on the target, after checking
// that typ is a task type of kind (domain.NewTask checks the rest).
func NewTask(typ domain.TaskType, kind domain.TargetKind, targetID string, args map[string]string) (*domain.Task, error) {
	s, ok := Lookup(typ)
	if !ok {
		return nil, domain.Invalid("type", "unknown task type %q", domain.Clip(string(typ)))
	}
	if s.Kind != kind {
		return nil, domain.Invalid("type", "a %s task operates on a %s, not a %s", typ, s.Kind, kind)
	}
	return domain.NewTask(typ, kind, targetID, args)
}
