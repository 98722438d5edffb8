package layers

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/aegirhq/aegir"

// layer is one line of ARCHITECTURE.md's layers block: a number and the
// package patterns on it ("internal/store/..." is the subtree).
type layer struct {
	rank     int
	patterns []string
}

// readLayers parses the fenced ```layers block of the architecture page.
func readLayers(path string) ([]layer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []layer
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```layers":
			in = true
			continue
		case in && line == "```":
			return out, nil
		case !in || line == "" || strings.HasPrefix(line, "#"):
			continue
		}
		fields := strings.Fields(line)
		rank, err := strconv.Atoi(fields[0])
		if err != nil || len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: want \"<layer number> <package> ...\", got %q", path, n, line)
		}
		out = append(out, layer{rank: rank, patterns: fields[1:]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%s: no ```layers block", path)
}

// rankOf returns the layer of pkg (a path relative to the module) by its
// most specific pattern, and false when no pattern covers it.
func rankOf(layers []layer, pkg string) (rank int, pattern string, ok bool) {
	best := -1
	for _, l := range layers {
		for _, p := range l.patterns {
			var match bool
			var score int
			if sub, isTree := strings.CutSuffix(p, "/..."); isTree {
				match = pkg == sub || strings.HasPrefix(pkg, sub+"/")
				score = len(sub)
			} else {
				match = pkg == p
				score = len(p) + 1 // an exact name beats the subtree of the same name
			}
			if match && score > best {
				best, rank, pattern, ok = score, l.rank, p, true
			}
		}
	}
	return rank, pattern, ok
}

// imports maps each package directory of the module (relative, "." for
// the root) to the module packages its non-test files import.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module (ops/agents/...)
				}
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		if _, seen := out[rel]; !seen {
			out[rel] = nil
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if dep, ok := strings.CutPrefix(p, module+"/"); ok && !slices.Contains(out[rel], dep) {
				out[rel] = append(out[rel], dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportsFollowLayers(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	layers, err := readLayers(filepath.Join(root, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := imports(t, root)
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages under %s; is the test running from the module?", len(pkgs), root)
	}
	for pkg, deps := range pkgs {
		if pkg == "." {
			continue // main.go: it may call anything, and only calls app
		}
		rank, pat, ok := rankOf(layers, pkg)
		if !ok {
			t.Errorf("package %s is in no layer: add it to the layers block of ARCHITECTURE.md", pkg)
			continue
		}
		for _, dep := range deps {
			drank, dpat, ok := rankOf(layers, dep)
			if !ok {
				continue // reported as its own package
			}
			switch {
			case drank > rank:
				t.Errorf("%s (layer %d) imports %s (layer %d, %s): a package may import only lower layers; move the code or the dependency, or change ARCHITECTURE.md if the design changed",
					pkg, rank, dep, drank, dpat)
			case drank == rank && dpat != pat:
				t.Errorf("%s (%s) imports %s (%s) of the same layer %d: only the packages of one subtree may import each other within a layer; move one of them to another layer in ARCHITECTURE.md if one builds on the other",
					pkg, pat, dep, dpat, rank)
			}
		}
	}
}

func TestRankOf(t *testing.T) {
	t.Parallel()
	ls := []layer{
		{rank: 1, patterns: []string{"internal/provision/..."}},
		{rank: 3, patterns: []string{"internal/provision"}},
		{rank: 0, patterns: []string{"internal/domain"}},
	}
	for _, tc := range []struct {
		pkg  string
		rank int
		ok   bool
	}{
		{"internal/provision", 3, true},
		{"internal/provision/archive", 1, true},
		{"internal/domain", 0, true},
		{"internal/domainx", 0, false},
		{"internal/provisionx", 0, false},
	} {
		rank, _, ok := rankOf(ls, tc.pkg)
		if ok != tc.ok || rank != tc.rank {
			t.Errorf("rankOf(%q) = %d, %v; want %d, %v", tc.pkg, rank, ok, tc.rank, tc.ok)
		}
	}
}
