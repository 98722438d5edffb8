package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// verifyServer checks that a server's services answer.
var verifyServer = Spec{
	Type:    domain.TaskVerifyServer,
	Kind:    domain.TargetServer,
	Summary: "Verify a server: check that its services answer.",
	From:    anyServer,
	Changes: ChangeServerStatus,
	Form:    Form{Label: "Verify"},
}
