package domain

// Package is an installable component (module, theme, profile, library,
// the platform's core itself). Packages are discovered by verify tasks,
// never created by hand.
type Package struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type"` // module, theme, profile, core, library
	Title   string `json:"title,omitempty"`
	Version uint64 `json:"version"`
}

// PackageRelease is one version of a package.
type PackageRelease struct {
	ID        string `json:"id"`
	PackageID string `json:"package_id"`
	Release   string `json:"release"`
	Version   uint64 `json:"version"`
}

// PackageInstance is where a release is installed: on a platform or a site,
// at a path, enabled or not, with its schema version.
type PackageInstance struct {
	ID            string     `json:"id"`
	ReleaseID     string     `json:"release_id"`
	PackageID     string     `json:"package_id"`
	TargetKind    TargetKind `json:"target_kind"`
	TargetID      string     `json:"target_id"`
	Path          string     `json:"path,omitempty"`
	Enabled       bool       `json:"enabled"`
	SchemaVersion string     `json:"schema_version,omitempty"`
	Version       uint64     `json:"version"`
}
