package testharness

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestFuzzTargetsSeedHostileInputs checks that every fuzz target of the
// repository adds HostileInputs to its seed corpus, so a new target
// cannot forget the payloads aegir was probed with.
func TestFuzzTargetsSeedHostileInputs(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Fuzz") || fn.Body == nil {
				continue
			}
			n++
			seeded := false
			ast.Inspect(fn.Body, func(x ast.Node) bool {
				if sel, ok := x.(*ast.SelectorExpr); ok && sel.Sel.Name == "HostileInputs" {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == "testharness" {
						seeded = true
					}
				}
				return !seeded
			})
			if !seeded {
				t.Errorf("%s: %s does not add testharness.HostileInputs to its seed corpus", path, fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("found only %d fuzz targets; is the walk from the repository root?", n)
	}
}
