package archive

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Names of the entries of a site archive.
const (
	// FilesPrefix prefixes every entry of the site directory.
	FilesPrefix = "files/"
	// DatabaseName is the database dump when it fits in one part; a larger
	// dump is stored as DatabaseName + ".part-000000", ".part-000001" ...
	// (concatenate them in order to get the dump).
	DatabaseName = "database.sql"
	// ManifestName is the last entry: what the archive holds, with checksums.
	ManifestName = "manifest.json"
)

// Entry types in a manifest.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
)

// Manifest describes an archive: whose site it is and every entry with its
// size and checksum (sha256 in Format1, XXH64 in Format2). It is written last, so it can hold the checksums of
// entries streamed before it.
type Manifest struct {
	Format       int       `json:"format"`
	SiteID       string    `json:"site_id"`
	Domain       string    `json:"domain"`
	PlatformID   string    `json:"platform_id,omitempty"`
	PlatformType string    `json:"platform_type,omitempty"`
	DBKind       string    `json:"db_kind,omitempty"`
	TaskID       string    `json:"task_id,omitempty"`
	AegirVersion string    `json:"aegir_version,omitempty"`
	Created      time.Time `json:"created"`
	Entries      []Entry   `json:"entries"`
	// ExternalLinks are the site's symlinks whose targets leave the site
	// directory (LinkLeaves): archived and restored as links, never
	// followed, and reported so the operator knows the restored site
	// depends on them. Empty in archives written before it existed.
	ExternalLinks []ExternalLink `json:"external_links,omitempty"`
}

// ExternalLink is a symlink of a site whose target leaves the site
// directory.
type ExternalLink struct {
	Name   string `json:"name"`   // the entry, e.g. files/lib/tpl
	Target string `json:"target"` // the link's target as stored
}

// LinkLeaves reports whether a symlink at rel (a slash path relative to
// the site directory) with target link points outside the site directory,
// judged lexically from the link's own directory: an absolute target
// always does (a restored or cloned site lives at another path), and so
// does a relative one whose ".." climb above the site directory. Whether
// the target exists does not matter.
func LinkLeaves(rel, link string) bool {
	if link == "" || path.IsAbs(link) {
		return true
	}
	j := path.Join(path.Dir(rel), link)
	return j == ".." || strings.HasPrefix(j, "../")
}

// Entry is one archive member.
type Entry struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"` // Format1
	XXH64  string `json:"xxh64,omitempty"`  // Format2
	Link   string `json:"link,omitempty"`
}

// Info is a written archive.
type Info struct {
	Path     string
	Size     int64
	SHA256   string
	Manifest Manifest
}

// ErrCorrupt means an archive does not match its manifest or checksum, or
// holds an entry aegir never writes. Nothing was changed because of it.
var ErrCorrupt = errors.New("backup archive is corrupt")

// CorruptError says what is wrong with an archive.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("backup archive %s is corrupt: %s", e.Path, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corrupt(path, format string, args ...any) error {
	return &CorruptError{Path: path, Reason: fmt.Sprintf(format, args...)}
}
