package store

import (
	"context"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
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
