package cli

import (
	"encoding/json"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

// TestAuditList drives "aegir audit list" against the real API: changes
// made through the CLI are listed, and the filters narrow them.
func TestAuditList(t *testing.T) {
	t.Parallel()
	b, _ := realAPI(t)

	b.run("client", "create", "acme", "-title", "Acme Inc.").want(t, ExitOK)
	b.run("client", "create", "globex").want(t, ExitOK)

	r := b.run("audit", "list").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "ACTION", "create", "client", "title=Acme Inc.", "127.0.0.1")

	r = b.run("audit", "list", "-client", "acme", "-since", "1h", "-json").want(t, ExitOK)
	var l struct {
		Items []domain.AuditEntry `json:"items"`
		Total int                 `json:"total"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatal(err)
	}
	if l.Total != 1 || l.Items[0].Fields["name"] != "acme" || l.Items[0].UserName != "admin" {
		t.Errorf("audit list -client acme: %+v", l)
	}
	b.run("audit", "list", "-since", "yesterday").want(t, ExitUsage)
}
