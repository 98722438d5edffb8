package domain

import "time"

// Backup is one archive of a site: its files, a database dump and a
// manifest with checksums, written by a backup task.
type Backup struct {
	ID        string    `json:"id"`
	SiteID    string    `json:"site_id"`
	ClientID  string    `json:"client_id,omitempty"`
	Domain    string    `json:"domain"`
	TaskID    string    `json:"task_id"`
	ServerID  string    `json:"server_id"`      // where the archive is stored
	Path      string    `json:"path,omitempty"` // admins only (control.shapeBackup)
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Reason    string    `json:"reason,omitempty"` // manual, scheduled, pre-restore, pre-delete, pre-migrate, import
	CreatedAt time.Time `json:"created_at"`
	Version   uint64    `json:"version"`
}

// BackupImported is the Reason of a backup record made for an uploaded
// archive (POST /sites/import): its archive's manifest names the site it
// was taken of, elsewhere, not the site it now belongs to.
const BackupImported = "import"
