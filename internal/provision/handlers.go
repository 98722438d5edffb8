package provision

import (
	"context"

	"github.com/aegirhq/aegir/internal/domain"
)

// taskHandler does one task type's work, filling j.res.
type taskHandler func(ctx context.Context, j *job) error

// handlers is the back end's one table of task types: every type declared
// in internal/taskspec has exactly one handler here, and every handler a
// spec (TestHandlersMatchSpecs). A new task type is its spec plus a line
// here.
var handlers = map[domain.TaskType]taskHandler{
	// Site tasks.
	domain.TaskInstall:             install,
	domain.TaskVerify:              verify,
	domain.TaskBackup:              backupTask,
	domain.TaskRestore:             restore,
	domain.TaskDisable:             disable,
	domain.TaskEnable:              enable,
	domain.TaskClone:               cloneSite,
	domain.TaskMigrate:             migrate,
	domain.TaskDelete:              deleteSite,
	domain.TaskRotateCredentials:   rotateSiteCredentials,
	domain.TaskCertificate:         certificateTask,
	domain.TaskReleaseOldPlace:     releaseOldPlace,
	domain.TaskRemoveReplacedFiles: removeReplacedFiles,
	// Site tasks of the periodic queues (queuetasks.go, verifybackup.go).
	domain.TaskCron:         cronTask,
	domain.TaskStats:        statsTask,
	domain.TaskDeleteBackup: deleteBackupTask,
	domain.TaskVerifyBackup: verifyBackupTask,
	// Platform tasks.
	domain.TaskVerifyPlatform: verifyPlatform,
	domain.TaskImport:         importSites,
	domain.TaskLock:           lockPlatform,
	domain.TaskUnlock:         unlockPlatform,
	domain.TaskDeletePlatform: deletePlatform,
	// Server tasks.
	domain.TaskVerifyServer:              verifyServer,
	domain.TaskDeleteBackupOfDeletedSite: deleteBackupTask, // delete-backup on the server, its site gone
}
