package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// deletePlatform removes a platform without sites (the store refuses one
// with sites).
var deletePlatform = Spec{
	Type:    domain.TaskDeletePlatform,
	Kind:    domain.TargetPlatform,
	Summary: "Delete a platform that has no sites.",
	Aliases: []domain.TaskType{"delete"},
	From:    livePlatform,
	Changes: ChangeRemovePlatform,
	Form: Form{Label: "Delete platform", Confirm: true,
		Help: "Only a platform without sites can be deleted."},
}
