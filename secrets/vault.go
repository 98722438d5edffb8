package secrets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
)

// VaultConfig configures a VaultStore. Zero fields take the defaults named
// in their comments; VaultConfigFromEnv fills the auth fields from the
// environment.
type VaultConfig struct {
	// Addr is Vault's API address. Default: VAULT_ADDR, else
	// https://127.0.0.1:8200 (the vault/api default).
	Addr string
	// Mount is the KV version 2 mount. Default "secret".
	Mount string
	// Prefix is the folder under Mount that holds aegir's secrets; a
	// reference "sites/<id>/db" lives at <Mount>/data/<Prefix>/sites/<id>/db.
	// Default "aegir".
	Prefix string
	// DatabaseMount is where the database secrets engine is mounted, for
	// DynamicCreds and the setup helpers. Default "database".
	DatabaseMount string

	// Token authenticates with a token. When Token, TokenFile and RoleID
	// are all empty, NewVault falls back to VAULT_TOKEN.
	Token string
	// TokenFile holds the token (e.g. written by Vault Agent or Nomad).
	TokenFile string
	// RoleID and SecretID (or their files) authenticate with AppRole
	// (auth/<AppRoleMount>/login), the way `aegir server` logs in.
	RoleID, RoleIDFile     string
	SecretID, SecretIDFile string
	// AppRoleMount is where the AppRole auth method is mounted. Default
	// "approle".
	AppRoleMount string

	// Timeout bounds one request. Default 10s.
	Timeout time.Duration
	// MaxRetries is how often a request that got a 5xx or no answer is
	// retried (with backoff). Default 1; a sealed Vault is reported after
	// the retries.
	MaxRetries *int
	// Logger receives renewal events and warnings; never secret values.
	// Default: discard.
	Logger *slog.Logger
	// TokenCheck is how often the store asks Vault whether its token is
	// still valid (auth/token/lookup-self), so a token revoked or expired
	// early is noticed within this time rather than at the next request
	// or renewal: an AppRole store logs in again, a token store reports it
	// in Check (aegir's status view). Default 30s.
	TokenCheck time.Duration
}

// Environment variables VaultConfigFromEnv reads, besides Vault's own
// VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT ... (which vault/api reads).
const (
	EnvVaultRoleID       = "AEGIR_VAULT_ROLE_ID"
	EnvVaultRoleIDFile   = "AEGIR_VAULT_ROLE_ID_FILE"
	EnvVaultSecretID     = "AEGIR_VAULT_SECRET_ID"
	EnvVaultSecretIDFile = "AEGIR_VAULT_SECRET_ID_FILE"
	EnvVaultTokenFile    = "AEGIR_VAULT_TOKEN_FILE"
)

// VaultConfigFromEnv returns a config for addr, mount and prefix (empty:
// defaults) whose credentials come from the environment: AppRole when
// AEGIR_VAULT_ROLE_ID(_FILE) is set, else AEGIR_VAULT_TOKEN_FILE, else
// VAULT_TOKEN. This is what the back end uses: the context names the
// address, mount and prefix, never a token.
func VaultConfigFromEnv(addr, mount, prefix string) VaultConfig {
	return VaultConfig{
		Addr: addr, Mount: mount, Prefix: prefix,
		RoleID: os.Getenv(EnvVaultRoleID), RoleIDFile: os.Getenv(EnvVaultRoleIDFile),
		SecretID: os.Getenv(EnvVaultSecretID), SecretIDFile: os.Getenv(EnvVaultSecretIDFile),
		TokenFile: os.Getenv(EnvVaultTokenFile),
	}
}

// VaultStore keeps secrets in a Vault KV version 2 mount, and leases
// throwaway database users from the database secrets engine (dynamic.go).
// A renewable token is renewed in the background while the store is open;
// an AppRole login is repeated when its token reaches its max TTL. Close
// stops that.
type VaultStore struct {
	client  *vault.Client
	addr    string
	mount   string
	prefix  string
	dbMount string
	log     *slog.Logger
	login   func(ctx context.Context) (*vault.Secret, error) // AppRole; nil for a token

	mu       sync.Mutex
	leases   map[string]string // lease id -> the child token that holds it
	renewErr error             // the last failed renewal or re-login, for Check
	stop     context.CancelFunc
	done     chan struct{}
	// checked is closed when watchToken has returned.
	checked chan struct{}
}

var _ Store = (*VaultStore)(nil)

// NewVault connects to Vault, authenticates, and starts renewing the token
// when it is renewable. It fails with a *VaultError when Vault is sealed,
// unreachable, or refuses the credentials.
func NewVault(cfg VaultConfig) (*VaultStore, error) {
	vc := vault.DefaultConfig()
	if vc.Error != nil {
		return nil, fmt.Errorf("vault client settings from the environment: %w", vc.Error)
	}
	if cfg.Addr != "" {
		vc.Address = cfg.Addr
	}
	vc.Timeout = cmp.Or(cfg.Timeout, 10*time.Second)
	vc.MaxRetries = 1
	if cfg.MaxRetries != nil {
		vc.MaxRetries = *cfg.MaxRetries
	}
	client, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", vc.Address, err)
	}
	client.ClearToken() // NewClient reads VAULT_TOKEN; which token to use is decided below
	v := &VaultStore{
		client:  client,
		addr:    vc.Address,
		mount:   strings.Trim(cmp.Or(cfg.Mount, "secret"), "/"),
		prefix:  strings.Trim(cmp.Or(cfg.Prefix, "aegir"), "/"),
		dbMount: strings.Trim(cmp.Or(cfg.DatabaseMount, "database"), "/"),
		log:     cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)).With("component", "vault"),
		leases:  map[string]string{},
	}
	for what, s := range map[string]string{"mount": v.mount, "prefix": v.prefix, "database mount": v.dbMount} {
		if err := ValidateRef(s); err != nil {
			return nil, fmt.Errorf("vault %s %q: %w", what, s, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*vc.Timeout)
	defer cancel()

	var auth *vault.Secret
	switch {
	case cfg.RoleID != "" || cfg.RoleIDFile != "":
		roleID := cfg.RoleID
		if roleID == "" {
			b, err := os.ReadFile(cfg.RoleIDFile)
			if err != nil {
				return nil, fmt.Errorf("read the AppRole role_id file: %w", err)
			}
			roleID = strings.TrimSpace(string(b))
		}
		sid := &approle.SecretID{FromString: cfg.SecretID}
		if cfg.SecretID == "" {
			if cfg.SecretIDFile == "" {
				return nil, errors.New("vault AppRole needs a secret_id: set " + EnvVaultSecretID + " or " + EnvVaultSecretIDFile)
			}
			sid = &approle.SecretID{FromFile: cfg.SecretIDFile}
		}
		am, err := approle.NewAppRoleAuth(roleID, sid, approle.WithMountPath(cmp.Or(cfg.AppRoleMount, "approle")))
		if err != nil {
			return nil, fmt.Errorf("vault AppRole settings: %w", err)
		}
		v.login = func(ctx context.Context) (*vault.Secret, error) {
			s, err := client.Auth().Login(ctx, am)
			if err != nil {
				return nil, v.classify(ctx, "login", "auth/"+cmp.Or(cfg.AppRoleMount, "approle")+"/login", err)
			}
			if s == nil || s.Auth == nil {
				return nil, &VaultError{Kind: ErrVaultToken, Addr: v.addr, Op: "login", Detail: "the AppRole login returned no token"}
			}
			return s, nil
		}
		if auth, err = v.login(ctx); err != nil {
			return nil, err
		}
	default:
		token := cfg.Token
		if token == "" && cfg.TokenFile != "" {
			b, err := os.ReadFile(cfg.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("read the Vault token file: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
		token = cmp.Or(token, os.Getenv("VAULT_TOKEN"))
		if token == "" {
			return nil, errors.New("no Vault credentials: set VAULT_TOKEN, " + EnvVaultTokenFile + ", or an AppRole (" + EnvVaultRoleID + " and " + EnvVaultSecretID + ")")
		}
		client.SetToken(token)
		self, err := client.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			return nil, v.classify(ctx, "read", "auth/token/lookup-self", err)
		}
		renewable, _ := self.TokenIsRenewable()
		ttl, _ := self.TokenTTL()
		auth = &vault.Secret{Auth: &vault.SecretAuth{ClientToken: token, Renewable: renewable, LeaseDuration: int(ttl.Seconds())}}
	}
	client.SetToken(auth.Auth.ClientToken)
	wctx, stop := context.WithCancel(context.Background())
	v.stop, v.done, v.checked = stop, make(chan struct{}), make(chan struct{})
	go v.keepAlive(wctx, auth)
	go v.watchToken(wctx, cmp.Or(cfg.TokenCheck, 30*time.Second))
	return v, nil
}

// watchToken asks Vault every `every` whether the store's token is still
// valid. A token Vault no longer takes (revoked, or expired before its
// renewal) makes an AppRole store log in again at once, and is recorded
// for Check otherwise. A sealed or unreachable Vault is left to the
// requests and the status view, which say so themselves.
func (v *VaultStore) watchToken(ctx context.Context, every time.Duration) {
	defer close(v.checked)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := v.client.Auth().Token().LookupSelfWithContext(cctx)
		if err != nil {
			err = v.classify(cctx, "read", "auth/token/lookup-self", err)
		}
		if err == nil || !errors.Is(err, ErrVaultToken) {
			cancel()
			continue
		}
		if v.login == nil {
			cancel()
			v.setRenewErr(err)
			v.log.Warn("Vault no longer takes aegir's token (revoked or expired); give aegir a new token", "err", err)
			continue
		}
		s, lerr := v.login(cctx)
		cancel()
		if lerr != nil {
			v.setRenewErr(lerr)
			v.log.Warn("Vault no longer takes aegir's token, and the AppRole login failed; retrying", "err", lerr, "in", every)
			continue
		}
		v.client.SetToken(s.Auth.ClientToken)
		v.setRenewErr(nil)
		v.log.Info("Vault no longer took aegir's token (revoked or expired); logged in again with AppRole")
	}
}

// Close stops renewing the token. It does not revoke it (a token from the
// environment belongs to whoever gave it).
func (v *VaultStore) Close() error {
	v.stop()
	<-v.done
	<-v.checked
	return nil
}

// Addr is the Vault address the store talks to.
func (v *VaultStore) Addr() string { return v.addr }

// keepAlive renews the token with a LifetimeWatcher while it is
// renewable; when it cannot be renewed any more, an AppRole store logs in
// again, a token store logs a warning (requests then fail with
// ErrVaultToken once it expires).
func (v *VaultStore) keepAlive(ctx context.Context, auth *vault.Secret) {
	defer close(v.done)
	for {
		if !auth.Auth.Renewable || auth.Auth.LeaseDuration <= 0 {
			if v.login == nil {
				return // a root or non-renewable token: nothing to do
			}
			// Non-renewable AppRole token: log in again shortly before it
			// expires.
			wait := max(time.Duration(auth.Auth.LeaseDuration)*time.Second*2/3, 5*time.Second)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		} else {
			w, err := v.client.NewLifetimeWatcher(&vault.LifetimeWatcherInput{Secret: auth})
			if err != nil {
				v.log.Warn("cannot renew the Vault token", "err", err)
				return
			}
			go w.Start()
		watch:
			for {
				select {
				case <-ctx.Done():
					w.Stop()
					return
				case err := <-w.DoneCh():
					if err != nil {
						err = v.classify(ctx, "renew", "auth/token/renew-self", err)
						v.setRenewErr(err)
						v.log.Warn("renewing the Vault token failed", "err", err)
					}
					break watch
				case r := <-w.RenewCh():
					v.setRenewErr(nil)
					v.log.Debug("Vault token renewed", "ttl_seconds", r.Secret.Auth.LeaseDuration)
				}
			}
			w.Stop()
		}
		if v.login == nil {
			v.noMoreRenewals()
			v.log.Warn("the Vault token reached its maximum TTL and cannot be renewed; give aegir a new token")
			return
		}
		for {
			lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			s, err := v.login(lctx)
			cancel()
			if err == nil {
				v.client.SetToken(s.Auth.ClientToken)
				auth = s
				v.setRenewErr(nil)
				v.log.Info("logged in to Vault again with AppRole")
				break
			}
			v.setRenewErr(err)
			v.log.Warn("AppRole login to Vault failed; retrying in 10s", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Second):
			}
		}
	}
}

// path returns the secret path of ref under the prefix (without the
// mount), and the API path of its data for messages and policies.
func (v *VaultStore) path(ref string) (string, string, error) {
	if err := ValidateRef(ref); err != nil {
		return "", "", err
	}
	p := v.prefix + "/" + ref
	return p, v.mount + "/data/" + p, nil
}

// Get returns the secret at ref, or ErrNotFound.
func (v *VaultStore) Get(ctx context.Context, ref string) (map[string]string, error) {
	p, api, err := v.path(ref)
	if err != nil {
		return nil, err
	}
	var s *vault.KVSecret
	err = v.retryLogin(ctx, func() error {
		var err error
		s, err = v.client.KVv2(v.mount).Get(ctx, p)
		if err != nil && !errors.Is(err, vault.ErrSecretNotFound) {
			return v.classify(ctx, "read", api, err)
		}
		return err
	})
	if errors.Is(err, vault.ErrSecretNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(s.Data))
	for k, val := range s.Data {
		str, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("the Vault secret %s has a non-string value under %q; aegir stores only strings there: rewrite it with vault kv put", api, k)
		}
		out[k] = str
	}
	return out, nil
}

// Put writes data at ref as a new version. A token allowed only
// create/update on the path (the dashboard's, for admin credentials) can
// do this without being able to read it back.
func (v *VaultStore) Put(ctx context.Context, ref string, data map[string]string) error {
	p, api, err := v.path(ref)
	if err != nil {
		return err
	}
	m := make(map[string]any, len(data))
	for k, val := range data {
		m[k] = val
	}
	return v.retryLogin(ctx, func() error {
		if _, err := v.client.KVv2(v.mount).Put(ctx, p, m); err != nil {
			return v.classify(ctx, "write", api, err)
		}
		return nil
	})
}

// Delete removes every version of the secret at ref (its metadata); a
// missing one is not an error.
func (v *VaultStore) Delete(ctx context.Context, ref string) error {
	p, _, err := v.path(ref)
	if err != nil {
		return err
	}
	return v.retryLogin(ctx, func() error {
		if err := v.client.KVv2(v.mount).DeleteMetadata(ctx, p); err != nil {
			return v.classify(ctx, "delete", v.mount+"/metadata/"+p, err)
		}
		return nil
	})
}

// retryLogin runs call, and when an AppRole store's token turns out to be
// expired or revoked (the background renewal can lose the race against a
// short max TTL), logs in again and runs it once more.
func (v *VaultStore) retryLogin(ctx context.Context, call func() error) error {
	err := call()
	if v.login == nil || !errors.Is(err, ErrVaultToken) {
		return err
	}
	s, lerr := v.login(ctx)
	if lerr != nil {
		return err
	}
	v.client.SetToken(s.Auth.ClientToken)
	v.log.Info("logged in to Vault again with AppRole after its token expired")
	return call()
}
