package secrets

import (
	"context"
	"errors"
	"time"
)

// VaultTokenStatus is what VaultStore.Check reports about the token aegir
// uses, for the operator's status view (GET /api/v1/status).
type VaultTokenStatus struct {
	// TTL is how long the token has left; 0 when it never expires.
	TTL time.Duration
	// Renewable: the store renews it in the background (an AppRole store
	// also logs in again when it reaches its max TTL).
	Renewable bool
	// RenewErr is why the last renewal or AppRole login failed, or that
	// the token reached its max TTL and nothing can renew it; nil once a
	// renewal or login worked again. The token may still be valid: TTL
	// says for how long.
	RenewErr error
}

// errNoRenewal: a token (not AppRole) reached its max TTL.
var errNoRenewal = errors.New("the Vault token reached its maximum TTL and cannot be renewed; give aegir a new token (VAULT_TOKEN) before it expires, or use AppRole")

func (v *VaultStore) setRenewErr(err error) {
	v.mu.Lock()
	v.renewErr = err
	v.mu.Unlock()
}

// noMoreRenewals records that a token store stopped renewing, keeping the
// failed renewal's error if that was why.
func (v *VaultStore) noMoreRenewals() {
	v.mu.Lock()
	if v.renewErr == nil {
		v.renewErr = errNoRenewal
	}
	v.mu.Unlock()
}

// Check asks Vault about the store's own token (auth/token/lookup-self,
// which every token may call). It fails with a *VaultError when Vault is
// unreachable or sealed, or the token is invalid or expired. Neither the
// status nor the error holds the token.
func (v *VaultStore) Check(ctx context.Context) (VaultTokenStatus, error) {
	self, err := v.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return VaultTokenStatus{}, v.classify(ctx, "read", "auth/token/lookup-self", err)
	}
	var st VaultTokenStatus
	st.TTL, _ = self.TokenTTL()
	st.Renewable, _ = self.TokenIsRenewable()
	v.mu.Lock()
	st.RenewErr = v.renewErr
	v.mu.Unlock()
	return st, nil
}
