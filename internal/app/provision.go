package app

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbmariadb"
	"github.com/aegirhq/aegir/internal/provision/dbpostgres"
	"github.com/aegirhq/aegir/internal/provision/dbsqlite"
	"github.com/aegirhq/aegir/internal/provision/webnginx"
	"github.com/aegirhq/aegir/secrets"
)

// runProvision is "aegir provision ...": the back end, with every driver
// compiled into this binary.
func runProvision(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return provision.Main(ctx, args, stdin, stdout, stderr, provisionDeps())
}

// provisionDeps lists the drivers this binary carries and how the back end
// opens the secrets backend a context names.
func provisionDeps() provision.Deps {
	return provision.Deps{
		Web: map[domain.ServiceKind]provision.WebFactory{
			domain.KindBuiltin: builtinweb.NewDriverFactory,
			domain.KindNginx:   webnginx.Factory,
		},
		DB: map[domain.ServiceKind]provision.DBFactory{
			domain.KindSQLite:     dbsqlite.New,
			domain.KindMariaDB:    dbmariadb.Factory,
			domain.KindPostgreSQL: dbpostgres.Factory,
		},
		OpenSecrets: openSecrets,
		Version:     Version,
	}
}

// openSecrets opens the secrets backend named by a context's Env. A
// Vault back end authenticates with AEGIR_VAULT_ROLE_ID_FILE and
// AEGIR_VAULT_SECRET_ID_FILE (AppRole), else VAULT_TOKEN (under Nomad, the
// job's vault block sets it).
func openSecrets(env provision.EnvInfo) (secrets.Store, error) {
	switch env.SecretsBackend {
	case "vault":
		return secrets.NewVault(secrets.VaultConfigFromEnv(env.VaultAddr, env.VaultMount, env.VaultPrefix))
	case "", "file":
		return secrets.OpenFile(filepath.Join(env.DataDir, "secrets"))
	}
	return nil, fmt.Errorf("secrets backend %q is unknown; use file or vault", env.SecretsBackend)
}
