package platform

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/sitetree"
)

// Package is a package found in a platform or site directory.
type Package struct {
	Name    string
	Type    string // module, theme, profile, core, library
	Title   string
	Release string
	Path    string // relative to the scanned directory
}

// MaxPackages bounds a scan, so a platform with a runaway vendor tree still
// produces a result that fits a task record.
const MaxPackages = 2000

// ScanInfoFiles finds Drupal *.info.yml (8+) and *.info (7) files under
// dir, skipping tests/, node_modules/, vendor/ and sites/ (sites have
// their own scans). coreVersion fills "VERSION" releases of core modules.
// dir is read with sitetree.Walk, as root reads a site's files: no link is
// followed, so an info file that is a link to a root-only file is not
// read.
func ScanInfoFiles(dir, coreVersion string) ([]Package, error) {
	var out []Package
	err := sitetree.Walk(context.Background(), dir, func(e *sitetree.Entry) error {
		name := path.Base(e.Rel)
		if e.Mode.IsDir() {
			switch name {
			case "tests", "node_modules", "vendor", ".git":
				return fs.SkipDir
			case "sites":
				if e.Rel == name {
					return fs.SkipDir
				}
			}
			return nil
		}
		if len(out) >= MaxPackages {
			return errFull
		}
		if !e.Mode.IsRegular() {
			return nil
		}
		var pkg Package
		var ok bool
		switch {
		case strings.HasSuffix(name, ".info.yml"):
			pkg, ok = readInfo(e, strings.TrimSuffix(name, ".info.yml"), ":")
		case strings.HasSuffix(name, ".info"):
			pkg, ok = readInfo(e, strings.TrimSuffix(name, ".info"), "=")
		}
		if !ok {
			return nil
		}
		if pkg.Release == "VERSION" || pkg.Release == "" && strings.HasPrefix(e.Rel, "core/") {
			pkg.Release = coreVersion
		}
		pkg.Path = path.Dir(e.Rel)
		out = append(out, pkg)
		return nil
	})
	if err == errFull {
		err = nil
	}
	slices.SortFunc(out, func(a, b Package) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// errFull stops a scan that found MaxPackages.
var errFull = errors.New("scan full")

// readInfo reads the top-level name, type and version keys of an info
// file: "key: value" (YAML) or "key = value" (Drupal 7 ini).
func readInfo(e *sitetree.Entry, machine, sep string) (Package, bool) {
	if err := domain.ValidateName("package", machine); err != nil {
		return Package{}, false
	}
	f, err := e.Open()
	if err != nil {
		return Package{}, false
	}
	defer f.Close()
	pkg := Package{Name: machine, Type: "module"}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 0; sc.Scan() && n < 500; n++ {
		line := sc.Text()
		if line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, sep)
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = strings.Trim(strings.TrimSpace(v), `'"`)
		if len(v) > 200 {
			v = v[:200]
		}
		switch k {
		case "name":
			pkg.Title = v
		case "type":
			if v == "module" || v == "theme" || v == "profile" || v == "theme_engine" {
				pkg.Type = v
			}
		case "version":
			pkg.Release = v
		}
	}
	return pkg, true
}

// ScanComposerLock reads the drupal-* and library packages of a
// composer.lock; a missing file is not an error.
func ScanComposerLock(file string) ([]Package, error) {
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lock struct {
		Packages []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Type    string `json:"type"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, nil // not ours to judge; verify still succeeds without it
	}
	var out []Package
	for _, p := range lock.Packages {
		vendor, name, ok := strings.Cut(p.Name, "/")
		if !ok || len(out) >= MaxPackages {
			continue
		}
		typ := strings.TrimPrefix(p.Type, "drupal-")
		switch typ {
		case "module", "theme", "profile", "core", "library":
		default:
			typ = "library"
		}
		if vendor == "drupal" && typ != "library" {
			// drupal/<machine name>: the same package as its info file.
			out = append(out, Package{Name: name, Type: typ, Release: p.Version})
			continue
		}
		out = append(out, Package{Name: p.Name, Type: typ, Release: p.Version})
	}
	return out, nil
}

// merge adds composer packages, letting a composer release fill an info
// file's missing release, and skipping duplicates.
func merge(pkgs, lock []Package) []Package {
	idx := map[string]int{}
	for i, p := range pkgs {
		idx[p.Name] = i
	}
	for _, l := range lock {
		if l.Name == "core" && l.Type == "core" {
			continue // drupal/core is the core package already listed
		}
		if i, ok := idx[l.Name]; ok {
			if pkgs[i].Release == "" {
				pkgs[i].Release = l.Release
			}
			continue
		}
		idx[l.Name] = len(pkgs)
		pkgs = append(pkgs, l)
	}
	return pkgs
}
