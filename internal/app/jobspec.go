package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/jobspecs"
)

// runJobspec is "aegir jobspec NAME [-var k=v ...]": it prints an embedded
// Nomad jobspec with its variables set, exactly as aegir registers it, so an
// operator can run it by hand: aegir jobspec aegir-task -var server_name=web1
// -var node_name=web1 | nomad job run -
func runJobspec(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("aegir jobspec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vars := map[string]any{}
	fs.Func("var", "set a variable: -var name=value (lists: -var datacenters=dc1,dc2)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return errors.New("use -var name=value")
		}
		switch {
		case k == "datacenters" || k == "vault_policies":
			vars[k] = strings.Split(v, ",")
		default:
			if n, err := strconv.Atoi(v); err == nil && (k == "cpu" || k == "memory" || k == "count") {
				vars[k] = n
			} else {
				vars[k] = v
			}
		}
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: aegir jobspec NAME [-var name=value ...]\n\nJobspecs: %s\n\nExample:\n  aegir jobspec aegir-task -var server_name=web1 -var node_name=web1 | nomad job run -\n\nFlags:\n", strings.Join(jobspecs.Names(), ", "))
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		return 2
	}
	name := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	out, err := jobspecs.Render(name, vars)
	if err != nil {
		fmt.Fprintln(stderr, "aegir jobspec:", err)
		return 2
	}
	_, _ = stdout.Write(out)
	return 0
}

// nomadJobVars are the aegir-task jobspec variables the config sets
// besides those the executor fills in: the back ends' Vault policies.
func nomadJobVars(cfg *config.Config) map[string]any {
	vars := map[string]any{}
	if len(cfg.Nomad.VaultPolicies) > 0 {
		vars["vault_policies"] = cfg.Nomad.VaultPolicies
	}
	return vars
}
