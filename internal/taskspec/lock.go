package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// lock stops a platform from taking new sites.
var lock = Spec{
	Type:    domain.TaskLock,
	Kind:    domain.TargetPlatform,
	Summary: "Lock a platform: no new sites on it.",
	From:    livePlatform,
	Guards:  []Guard{{Holds: func(t Target) bool { return !t.Locked }, Refuse: "it is already locked"}},
	Changes: ChangePlatformLock,
	Form:    Form{Label: "Lock (no new sites)"},
}
