// Package secrets keeps credentials out of the entity store: database
// server admin credentials and each site's own database password. Two
// backends: an encrypted file under the data dir (the embedded default) and
// Vault (production).
package secrets

import (
	"context"
	"errors"
)

// Store reads and writes secrets by reference. A reference is a slash
// path such as "services/<id>/admin" or "sites/<id>/db"; values are small
// string maps ("username", "password").
type Store interface {
	Get(ctx context.Context, ref string) (map[string]string, error)
	Put(ctx context.Context, ref string, data map[string]string) error
	Delete(ctx context.Context, ref string) error
}

// ErrNotFound means no secret exists at the reference.
var ErrNotFound = errors.New("secret not found")

// Reference builders, so every component names a secret the same way.
func ServiceAdminRef(serviceID string) string { return "services/" + serviceID + "/admin" }
func SiteDBRef(siteID string) string          { return "sites/" + siteID + "/db" }

// WebhookSecretRef names a webhook subscription's signing secret (key
// "secret").
func WebhookSecretRef(subscriptionID string) string {
	return "notifications/" + subscriptionID + "/webhook"
}

// TLS secrets: a site's certificate chain and key ("cert", "key",
// "issuer", PEM), the local CA's root and key ("cert", "key"), and an
// ACME account's key ("key") per directory, named by a hash of its URL.
func SiteCertRef(siteID string) string     { return "sites/" + siteID + "/tls" }
func ACMEAccountRef(dirHash string) string { return "tls/acme/" + dirHash }

// LocalCARef is where the local CA's root and key live.
const LocalCARef = "tls/local-ca"
