package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/taskspec"
)

func setBackupVersion(v *domain.Backup, n uint64) { v.Version = n }

// GetBackup returns the backup record with id.
func (s *Store) GetBackup(ctx context.Context, id string) (*domain.Backup, error) {
	return get(ctx, s.kv, prefixBackups+id, "backup", id, setBackupVersion)
}

// ListBackups returns the backups of a site (all sites when siteID is
// empty), newest first, restricted to clientIDs when not nil.
func (s *Store) ListBackups(ctx context.Context, siteID string, clientIDs []string) ([]domain.Backup, error) {
	all, err := list(ctx, s.kv, prefixBackups, setBackupVersion)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, b := range all {
		if siteID != "" && b.SiteID != siteID || clientIDs != nil && !slices.Contains(clientIDs, b.ClientID) {
			continue
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b domain.Backup) int { return strings.Compare(b.ID, a.ID) })
	return out, nil
}

// forgetBackupOfGoneServer removes the record of backup b, whose site and
// the server holding whose archive are both gone (the server died and was
// deleted from aegir): there is no server to run typ on, and a record
// nobody can remove would stay in lists, quotas and retention forever. Like
// every change it is a task, of type typ on the gone server, carrying the
// backup's client, but recorded already succeeded (never queued: no
// dispatcher sees it, no quota counts it), its summary saying that only
// the record went and where the archive is if that disk still exists (the
// path is for admins: control redacts task text for client users). One
// transaction: the backup unchanged, the site and the server still absent,
// the record deleted and the task created.
func (s *Store) forgetBackupOfGoneServer(ctx context.Context, b *domain.Backup, typ domain.TaskType, by string) (*domain.Task, error) {
	task, err := taskspec.NewTask(typ, domain.TargetServer, b.ServerID, map[string]string{"backup_id": b.ID})
	if err != nil {
		return nil, err
	}
	name, err := s.goneServerName(ctx, b.ServerID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	task.TargetName, task.ClientID, task.RequestedBy, task.CreatedAt = name, b.ClientID, by, now
	for _, to := range []domain.TaskStatus{domain.TaskRunning, domain.TaskSucceeded} {
		if err := task.Transition(to, now); err != nil {
			return nil, err
		}
	}
	task.Summary = fmt.Sprintf("The server %s that held this archive no longer exists: the record of the backup of %s was removed", name, b.Domain)
	if b.Path != "" {
		task.Summary += "; if that server's disk still exists, the archive is at " + b.Path
	}
	task.Summary += "."
	t := newTx()
	t.add(Op{Verb: OpCheckIndex, Key: prefixBackups + b.ID, Index: b.Version}, errRefChanged)
	t.add(Op{Verb: OpCheckNotExists, Key: prefixSites + b.SiteID}, errRefChanged)
	t.add(Op{Verb: OpCheckNotExists, Key: prefixServers + b.ServerID}, errRefChanged)
	t.deleteCAS(prefixBackups+b.ID, b.Version, errRefChanged)
	t.touchTask(s, task.ID)
	if err := t.create(TaskKey(task.ID), task, nil); err != nil {
		return nil, err
	}
	t.stampVersion(func(v uint64) { task.Version = v })
	if _, err := s.commit(ctx, t); err != nil {
		return nil, err
	}
	return task, nil
}

// goneServerName is the name a deleted server had, from the newest task
// on it that recorded one (creating a server queues verify-server), or
// "with id ID" when retention left none.
func (s *Store) goneServerName(ctx context.Context, id string) (string, error) {
	if !domain.ValidID(id) {
		return "(not recorded)", nil
	}
	page, err := s.ListTasks(ctx, TaskFilter{TargetKind: domain.TargetServer, TargetID: id, Limit: 20})
	if err != nil {
		return "", err
	}
	for _, t := range page.Items {
		if t.TargetName != "" {
			return t.TargetName, nil
		}
	}
	return "with id " + id, nil
}
