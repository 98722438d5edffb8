// Package jobspecs holds the Nomad jobspecs aegir registers, embedded in
// the binary. They are plain HCL2 jobspecs with variables, the same files an
// operator can read and `nomad job run -var ...` by hand.
//
// Nomad 1.4's /v1/jobs/parse endpoint takes no variable values, so Render
// sets each given variable's default in the file's own variable block
// (with hclwrite, never by pasting text) and aegir sends that to Nomad to
// parse: the result is what `nomad job run -var` would have run.
package jobspecs

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

//go:embed *.nomad.hcl
var files embed.FS

// Job names.
const (
	Task   = "aegir-task"
	Queue  = "aegir-queue"
	Server = "aegir-server"
)

// Names lists the embedded jobspecs.
func Names() []string {
	entries, _ := fs.Glob(files, "*.nomad.hcl")
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e, ".nomad.hcl"))
	}
	sort.Strings(out)
	return out
}

// Source returns a jobspec as shipped.
func Source(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".nomad.hcl")
	if err != nil {
		return nil, fmt.Errorf("no jobspec %q; have %v", name, Names())
	}
	return b, nil
}

// Variables lists the variables a jobspec declares.
func Variables(name string) ([]string, error) {
	f, err := parse(name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range f.Body().Blocks() {
		if b.Type() == "variable" && len(b.Labels()) == 1 {
			out = append(out, b.Labels()[0])
		}
	}
	return out, nil
}

// Render returns the jobspec with each variable in vars as its default.
// Values may be string, bool, int, int64, float64 or []string; a variable the
// jobspec does not declare is an error, so a typo cannot pass silently.
func Render(name string, vars map[string]any) ([]byte, error) {
	f, err := parse(name)
	if err != nil {
		return nil, err
	}
	declared := map[string]*hclwrite.Block{}
	for _, b := range f.Body().Blocks() {
		if b.Type() == "variable" && len(b.Labels()) == 1 {
			declared[b.Labels()[0]] = b
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b, ok := declared[k]
		if !ok {
			return nil, fmt.Errorf("jobspec %s has no variable %q", name, k)
		}
		v, err := toCty(vars[k])
		if err != nil {
			return nil, fmt.Errorf("jobspec %s variable %s: %w", name, k, err)
		}
		b.Body().SetAttributeValue("default", v)
	}
	setJobLabel(f, vars)
	return hclwrite.Format(f.Bytes()), nil
}

var varRef = regexp.MustCompile(`\$\{var\.([a-z_]+)\}`)

// setJobLabel makes the job's id (its block label, which HCL2 cannot take
// from a variable) equal to its name ("aegir-task-${var.server_name}") when
// every variable the name uses is given as a string: then the rendered file
// registers one job per server or queue, and running two by hand does not
// replace one with the other.
func setJobLabel(f *hclwrite.File, vars map[string]any) {
	for _, b := range f.Body().Blocks() {
		if b.Type() != "job" {
			continue
		}
		attr := b.Body().GetAttribute("name")
		if attr == nil {
			return
		}
		expr := strings.TrimSpace(string(attr.Expr().BuildTokens(nil).Bytes()))
		if len(expr) < 2 || expr[0] != '"' || expr[len(expr)-1] != '"' {
			return
		}
		complete := true
		name := varRef.ReplaceAllStringFunc(expr[1:len(expr)-1], func(m string) string {
			v, ok := vars[varRef.FindStringSubmatch(m)[1]].(string)
			if !ok {
				complete = false
			}
			return v
		})
		if complete && !strings.ContainsAny(name, "\"${}") {
			b.SetLabels([]string{name})
		}
	}
}

func parse(name string) (*hclwrite.File, error) {
	src, err := Source(name)
	if err != nil {
		return nil, err
	}
	f, diags := hclwrite.ParseConfig(src, name+".nomad.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("jobspec %s: %s", name, diags.Error())
	}
	return f, nil
}

func toCty(v any) (cty.Value, error) {
	switch x := v.(type) {
	case string:
		return cty.StringVal(x), nil
	case bool:
		return cty.BoolVal(x), nil
	case int:
		return cty.NumberIntVal(int64(x)), nil
	case int64:
		return cty.NumberIntVal(x), nil
	case float64:
		return cty.NumberFloatVal(x), nil
	case []string:
		if len(x) == 0 {
			return cty.ListValEmpty(cty.String), nil
		}
		vals := make([]cty.Value, len(x))
		for i, s := range x {
			vals[i] = cty.StringVal(s)
		}
		return cty.ListVal(vals), nil
	}
	return cty.NilVal, fmt.Errorf("unsupported value type %T", v)
}
