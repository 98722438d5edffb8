package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// unlock lets a locked platform take new sites again.
var unlock = Spec{
	Type:    domain.TaskUnlock,
	Kind:    domain.TargetPlatform,
	Summary: "Unlock a platform.",
	From:    livePlatform,
	Guards:  []Guard{{Holds: func(t Target) bool { return t.Locked }, Refuse: "it is not locked"}},
	Changes: ChangePlatformLock,
	Form:    Form{Label: "Unlock"},
}
