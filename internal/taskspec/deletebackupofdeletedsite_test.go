package taskspec

import (
	"errors"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/testharness"
)

// FuzzDeletedSiteBackupArgs: delete-backup-of-deleted-site takes only an
// aegir id as backup_id (it names a store key and is logged), and refuses
// anything else as invalid, with or without a server to run on.
func FuzzDeletedSiteBackupArgs(f *testing.F) {
	f.Add("01j00000000000000000")
	f.Add("")
	f.Add("../../etc/passwd")
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	srv := &domain.Server{Name: "web1", Status: domain.ServerReady}
	f.Fuzz(func(t *testing.T, id string) {
		args := map[string]string{"backup_id": id}
		err := CheckServer(srv, domain.TaskDeleteBackupOfDeletedSite, args)
		if err == nil && !domain.ValidID(args["backup_id"]) {
			t.Fatalf("accepted backup_id %q", args["backup_id"])
		}
		if err != nil && !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("backup_id %q: %v, want invalid", id, err)
		}
	})
}
