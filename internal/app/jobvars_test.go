package app

import (
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/jobspecs"
)

// TestNomadVaultPoliciesReachTheJob: nomad.vault_policies in aegir's
// config becomes the aegir-task job's vault policies; without it the job
// has no vault block's policies.
func TestNomadVaultPoliciesReachTheJob(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{}
	cfg.Nomad.VaultPolicies = []string{"aegir-backend"}
	out, err := jobspecs.Render(jobspecs.Task, nomadJobVars(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `["aegir-backend"]`) {
		t.Errorf("the rendered aegir-task job does not carry the policies:\n%s", out)
	}
	if vars := nomadJobVars(&config.Config{}); len(vars) != 0 {
		t.Errorf("no policies configured, job vars %v", vars)
	}
}
