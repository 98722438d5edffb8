package secrets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// Why a Vault request failed, in operator terms. Match them with errors.Is;
// the *VaultError that carries them has the address, path and a fix hint.
var (
	// ErrVaultSealed: Vault answered 503 "Vault is sealed".
	ErrVaultSealed = errors.New("vault is sealed")
	// ErrVaultUnreachable: no answer (connection refused, DNS, timeout).
	ErrVaultUnreachable = errors.New("vault is unreachable")
	// ErrVaultToken: the token is missing, expired, revoked or unknown.
	ErrVaultToken = errors.New("vault token is invalid or expired")
	// ErrVaultDenied: the token is valid but its policy denies the path.
	ErrVaultDenied = errors.New("vault policy denies the path")
	// ErrVaultRequest: Vault refused the request for another reason
	// (bad request, a database plugin error ...).
	ErrVaultRequest = errors.New("vault refused the request")
)

// VaultError is a failed Vault request. Its message says what is wrong and
// what to do; it never holds a secret value (request bodies and response
// data are never quoted, only Vault's own error strings).
type VaultError struct {
	Kind error  // one of the ErrVault* sentinels
	Addr string // Vault's address
	Op   string // "read", "write", "delete", "login", "renew" ...
	Path string // the API path, e.g. "secret/data/aegir/services/x/admin"
	// Detail is Vault's error text or the transport error, for the log.
	Detail string
}

func (e *VaultError) Error() string {
	switch e.Kind {
	case ErrVaultSealed:
		return fmt.Sprintf("Vault at %s is sealed; unseal it (vault operator unseal) and retry the task", e.Addr)
	case ErrVaultUnreachable:
		return fmt.Sprintf("Vault at %s is unreachable (%s); check that it runs and that VAULT_ADDR is right, then retry the task", e.Addr, e.Detail)
	case ErrVaultToken:
		return fmt.Sprintf("the Vault token aegir uses at %s is invalid or expired; give aegir a fresh token (VAULT_TOKEN) or check its AppRole role_id/secret_id, then retry the task", e.Addr)
	case ErrVaultDenied:
		verb := "reading"
		switch e.Op {
		case "write":
			verb = "writing"
		case "delete":
			verb = "deleting"
		}
		return fmt.Sprintf("the Vault policy of this token does not allow %s %s; see ops/vault/*.hcl for the policies aegir needs", verb, e.Path)
	}
	return fmt.Sprintf("Vault at %s refused to %s %s: %s", e.Addr, e.Op, e.Path, e.Detail)
}

// Unwrap returns the sentinel, so errors.Is(err, ErrVaultSealed) works.
func (e *VaultError) Unwrap() error { return e.Kind }

// Hint is the fix hint for a task result.
func (e *VaultError) Hint() string {
	switch e.Kind {
	case ErrVaultSealed:
		return "Unseal Vault (vault operator unseal), then run the task again; nothing was changed by this step."
	case ErrVaultUnreachable:
		return "Start Vault or fix VAULT_ADDR, then run the task again."
	case ErrVaultToken:
		return "Renew or replace aegir's Vault token (VAULT_TOKEN, or the AppRole secret_id), then run the task again."
	case ErrVaultDenied:
		return "Apply the policies in ops/vault/ to aegir's token (ops/vault/setup-dev.sh shows how), then run the task again."
	}
	return "Read Vault's error above and its server log, fix the cause, then run the task again."
}

// classify turns a Vault client error into a *VaultError. On 403 it asks
// Vault whether the token itself is still valid (auth/token/lookup-self,
// which every token may call) to tell an expired token from a policy that
// denies the path.
func (v *VaultStore) classify(ctx context.Context, op, path string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e := &VaultError{Kind: ErrVaultRequest, Addr: v.addr, Op: op, Path: path}
	var re *vault.ResponseError
	switch {
	case errors.As(err, &re):
		e.Detail = strings.Join(re.Errors, "; ")
		switch {
		case re.StatusCode == http.StatusServiceUnavailable && strings.Contains(strings.ToLower(e.Detail), "sealed"):
			e.Kind = ErrVaultSealed
		case re.StatusCode == http.StatusServiceUnavailable:
			e.Kind = ErrVaultUnreachable
		case re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusUnauthorized:
			e.Kind = ErrVaultDenied
			if v.tokenInvalid(ctx, e.Detail) {
				e.Kind = ErrVaultToken
			}
		}
	case isTransport(err):
		e.Kind = ErrVaultUnreachable
		e.Detail = transportDetail(err)
	default:
		e.Detail = err.Error()
	}
	return e
}

// tokenInvalid reports whether the client's token is no longer valid.
func (v *VaultStore) tokenInvalid(ctx context.Context, detail string) bool {
	if strings.Contains(detail, "invalid token") || v.client.Token() == "" {
		return true
	}
	_, err := v.client.Auth().Token().LookupSelfWithContext(ctx)
	var re *vault.ResponseError
	return errors.As(err, &re) && (re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusUnauthorized)
}

func isTransport(err error) bool {
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.As(err, &oe)
}

// transportDetail is the innermost transport error without the URL (which
// holds no secret, but repeats the address).
func transportDetail(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err.Error()
	}
	return err.Error()
}
