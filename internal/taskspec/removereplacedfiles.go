package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// removeReplacedFiles removes the site directory a restore replaced, which
// the restore kept beside the site until it succeeded. The restore's
// result queues it (ChangeReplacedFiles) with the restore's task id, so
// the restore reports success once the site is back and on disk, not
// after removing its old files too (as many as it restored).
var removeReplacedFiles = Spec{
	Type:    domain.TaskRemoveReplacedFiles,
	Kind:    domain.TargetSite,
	Summary: "Remove the site files a restore replaced.",
	From:    installedSite,
	Args: []Arg{{Name: "task_id", Type: ArgID, Of: "task", Required: true,
		Need: "remove-replaced-files needs the id of the restore whose replaced files it removes", Label: "Restore task"}},
	Form: Form{Label: "Remove the files a restore replaced", Hidden: true},
}
