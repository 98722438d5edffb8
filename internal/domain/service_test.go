package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

func TestServiceKinds(t *testing.T) {
	t.Parallel()
	srv := domain.NewID()
	for _, tc := range []struct {
		svc      domain.Service
		wantType domain.ServiceType
		wantErr  string
	}{
		{svc: domain.Service{ServerID: srv, Kind: domain.KindNginx}, wantType: domain.ServiceHTTP},
		{svc: domain.Service{ServerID: srv, Kind: domain.KindBuiltin, Port: 8080}, wantType: domain.ServiceHTTP},
		{svc: domain.Service{ServerID: srv, Kind: domain.KindSQLite}, wantType: domain.ServiceDB},
		{svc: domain.Service{ServerID: srv, Kind: domain.KindPostgreSQL, Type: domain.ServiceDB}, wantType: domain.ServiceDB},
		{svc: domain.Service{ServerID: srv, Kind: domain.KindMariaDB, Type: domain.ServiceHTTP}, wantErr: "is a db service"},
		// apache has no driver: refused, naming the kinds that exist.
		{svc: domain.Service{ServerID: srv, Kind: "apache"}, wantErr: `no driver for service kind "apache"; use one of builtin, mariadb, nginx, postgresql, sqlite`},
	} {
		err := tc.svc.Validate()
		if tc.wantErr != "" {
			if !errors.Is(err, domain.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: Validate() = %v, want %q", tc.svc.Kind, err, tc.wantErr)
			}
			continue
		}
		if err != nil || tc.svc.Type != tc.wantType {
			t.Errorf("%s: Validate() = %v, type %q; want type %q", tc.svc.Kind, err, tc.svc.Type, tc.wantType)
		}
	}
	if got := len(domain.ServiceKinds()); got != 5 {
		t.Errorf("ServiceKinds() = %v", domain.ServiceKinds())
	}
}
