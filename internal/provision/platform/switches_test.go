package platform

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// platformConsts are domain's platform type names. Outside this package
// they may be used as values (a platform literal in a test or an example)
// but not decided on: that is what Type is for.
var platformConsts = map[string]bool{"PlatformStatic": true, "PlatformPHP": true, "PlatformDrupal": true}

// TestNoPlatformTypeSwitches walks every .go file of the repository outside
// this package and fails on a case clause or an ==/!= comparison naming a
// platform type constant.
func TestNoPlatformTypeSwitches(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	self, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path == self || name == "testdata" || name == "vendor" || name == "node_modules" || path != root && strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, pos := range platformDecisions(f) {
			rel, _ := filepath.Rel(root, fset.Position(pos).Filename)
			t.Errorf("%s:%d decides on a platform type; ask the platform's platform.Type instead", rel, fset.Position(pos).Line)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("walked only %d files from %s; is the repository root right?", files, root)
	}
}

// platformDecisions returns where f has a case clause or an ==/!=
// comparison with a platform type constant.
func platformDecisions(f *ast.File) []token.Pos {
	var out []token.Pos
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CaseClause:
			for _, e := range n.List {
				if isPlatformConst(e) {
					out = append(out, e.Pos())
				}
			}
		case *ast.BinaryExpr:
			if (n.Op == token.EQL || n.Op == token.NEQ) && (isPlatformConst(n.X) || isPlatformConst(n.Y)) {
				out = append(out, n.Pos())
			}
		}
		return true
	})
	return out
}

func isPlatformConst(e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		return platformConsts[e.Name]
	case *ast.SelectorExpr:
		return platformConsts[e.Sel.Name]
	}
	return false
}

func TestPlatformDecisionsFindsSwitches(t *testing.T) {
	t.Parallel()
	src := `package x
func f(p P) {
	switch p.Type {
	case domain.PlatformStatic, domain.PlatformPHP:
	}
	if p.Type == domain.PlatformDrupal || PlatformPHP != p.Type {
	}
	_ = P{Type: domain.PlatformStatic}
}`
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(platformDecisions(f)); got != 4 {
		t.Fatalf("found %d decisions, want 4 (two cases, two comparisons, not the literal)", got)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}
