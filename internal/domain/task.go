package domain

import "time"

// TaskType names a back-end command.
type TaskType string

// Site tasks.
const (
	TaskInstall           TaskType = "install"
	TaskVerify            TaskType = "verify"
	TaskBackup            TaskType = "backup"
	TaskRestore           TaskType = "restore"
	TaskDisable           TaskType = "disable"
	TaskEnable            TaskType = "enable"
	TaskClone             TaskType = "clone"
	TaskMigrate           TaskType = "migrate"
	TaskDelete            TaskType = "delete"
	TaskRotateCredentials TaskType = "rotate-credentials"
	TaskCertificate       TaskType = "certificate" // issue or renew the site's certificate
	// TaskReleaseOldPlace removes what a migrate left at a site's old
	// place once the router in front has moved the site; the migrate's
	// result queues it.
	TaskReleaseOldPlace TaskType = "release-old-place"
	// TaskRemoveReplacedFiles removes the site files a restore replaced
	// (moved aside until it succeeded); the restore's result queues it,
	// so the restore ends as soon as the site is back and on disk.
	TaskRemoveReplacedFiles TaskType = "remove-replaced-files"
)

// Site tasks of the periodic queues (scheduler/queue): they run through the
// dispatcher like any task, so a cron run never races a restore.
const (
	TaskCron         TaskType = "cron"          // run the site's cron the platform's way
	TaskStats        TaskType = "stats"         // measure the site: platform figures, disk, database
	TaskDeleteBackup TaskType = "delete-backup" // remove one backup archive and its record together
	TaskVerifyBackup TaskType = "verify-backup" // restore a backup into a throwaway site, check it, remove it
)

// Platform and server tasks.
const (
	TaskVerifyPlatform TaskType = "verify-platform"
	TaskImport         TaskType = "import"
	TaskLock           TaskType = "lock"
	TaskUnlock         TaskType = "unlock"
	TaskDeletePlatform TaskType = "delete-platform"
	TaskMigrateSites   TaskType = "migrate-sites" // a parent task: one migrate child task per site
	TaskVerifyServer   TaskType = "verify-server"
	// TaskDeleteBackupOfDeletedSite removes a backup of a deleted site
	// (archive and record) on the server holding the archive: with its
	// site gone there is no site to queue delete-backup on.
	TaskDeleteBackupOfDeletedSite TaskType = "delete-backup-of-deleted-site"
)

// TargetKind is the kind of entity a task operates on.
type TargetKind string

const (
	TargetSite     TargetKind = "site"
	TargetPlatform TargetKind = "platform"
	TargetServer   TargetKind = "server"
)

// TaskStatus is a task's state.
type TaskStatus string

const (
	TaskQueued    TaskStatus = "queued"
	TaskRunning   TaskStatus = "running"
	TaskSucceeded TaskStatus = "succeeded"
	TaskFailed    TaskStatus = "failed"
	TaskCancelled TaskStatus = "cancelled"
)

var taskMachine = machine[TaskStatus]{entity: "task", next: map[TaskStatus][]TaskStatus{
	TaskQueued:    {TaskRunning, TaskCancelled, TaskFailed},
	TaskRunning:   {TaskSucceeded, TaskFailed, TaskCancelled},
	TaskSucceeded: {},
	TaskFailed:    {},
	TaskCancelled: {},
}}

// Done reports whether the status is final.
func (s TaskStatus) Done() bool {
	return s == TaskSucceeded || s == TaskFailed || s == TaskCancelled
}

// MaxTaskArgs bounds a task's arguments.
const MaxTaskArgs = 16

// Task is one command for the back end and the record of what it did. Its
// full log lives in the log store, not in this value.
type Task struct {
	ID          string            `json:"id"`
	Type        TaskType          `json:"type"`
	TargetKind  TargetKind        `json:"target_kind"`
	TargetID    string            `json:"target_id"`
	TargetName  string            `json:"target_name,omitempty"` // domain or name, for lists
	ClientID    string            `json:"client_id,omitempty"`   // owner of the target, for access control
	Args        map[string]string `json:"args,omitempty"`
	Status      TaskStatus        `json:"status"`
	RequestedBy string            `json:"requested_by,omitempty"`
	RetryOf     string            `json:"retry_of,omitempty"`
	Parent      string            `json:"parent,omitempty"` // the batch task that queued this one (migrate-sites)
	CreatedAt   time.Time         `json:"created_at"`
	StartedAt   *time.Time        `json:"started_at,omitempty"`
	FinishedAt  *time.Time        `json:"finished_at,omitempty"`
	Runner      string            `json:"runner,omitempty"` // executor-specific handle: pid, Nomad dispatch id
	Fence       uint64            `json:"fence,omitempty"`  // fencing token of the lock held while running
	ErrorCode   string            `json:"error_code,omitempty"`
	Explanation string            `json:"explanation,omitempty"`
	FixHint     string            `json:"fix_hint,omitempty"`
	Summary     string            `json:"summary,omitempty"` // one line on success
	Version     uint64            `json:"version"`
}

// NewTask returns a queued task of type typ on the target, after checking
// its arguments are bounded. Whether typ is a task type of kind is
// internal/taskspec's to say: make tasks with taskspec.NewTask.
func NewTask(typ TaskType, kind TargetKind, targetID string, args map[string]string) (*Task, error) {
	if err := ValidateName("type", string(typ)); err != nil {
		return nil, err
	}
	if len(args) > MaxTaskArgs {
		return nil, Invalid("args", "at most %d arguments", MaxTaskArgs)
	}
	for key, v := range args {
		if err := ValidateName("args key", key); err != nil {
			return nil, err
		}
		if err := validateText("args."+key, v, 1024); err != nil {
			return nil, err
		}
	}
	return &Task{
		ID:         NewID(),
		Type:       typ,
		TargetKind: kind,
		TargetID:   targetID,
		Args:       args,
		Status:     TaskQueued,
		CreatedAt:  time.Now().UTC(),
	}, nil
}

// Transition moves the task to status to, stamping its times, or returns a
// *TransitionError.
func (t *Task) Transition(to TaskStatus, now time.Time) error {
	if err := taskMachine.check(t.Status, to); err != nil {
		return err
	}
	t.Status = to
	now = now.UTC()
	if to == TaskRunning {
		t.StartedAt = &now
	}
	if to.Done() {
		t.FinishedAt = &now
	}
	return nil
}
