package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// verifyPlatform checks a platform's code on its web server and finds its
// release and packages.
var verifyPlatform = Spec{
	Type:    domain.TaskVerifyPlatform,
	Kind:    domain.TargetPlatform,
	Summary: "Verify a platform: check its code and find its packages.",
	Aliases: []domain.TaskType{"verify"},
	From:    livePlatform,
	Changes: ChangePlatformStatus | ChangePlatformRelease,
	Form:    Form{Label: "Verify"},
}
