// Package servicekind declares the service kinds aegir has drivers for:
// one Descriptor per kind, in one explicit list (All), that every layer
// reads instead of keeping its own list.
//
//   - internal/domain validates a service's kind and fills its type from
//     Lookup, so the API, the dashboard's forms and the store accept
//     exactly these kinds; a kind without a driver is refused with a
//     message naming the ones that exist.
//   - internal/cli offers Names(HTTP) and Names(DB) for "server add".
//   - internal/provision reads DefaultPort, the capabilities (does the
//     driver log in with admin credentials, can it lease throwaway users)
//     and, for Vault, the database plugin and the creation and revocation
//     statements, which it hands to secrets (secrets does not hold SQL).
//   - internal/provision/platform reads Drupal's driver name.
//
// The package is a leaf: it imports only the standard library, so
// internal/domain, the lowest aegir layer, can import it (TestLeaf keeps
// it so). The drivers themselves (internal/builtinweb,
// internal/provision/webnginx, internal/provision/db*) are elsewhere; the
// conformance suites internal/provision/webtest and dbtest check each
// driver against its descriptor (default port, capabilities, settings it
// refuses), and internal/app's TestEveryKindHasADriver that the binary
// carries a driver for every kind listed here and for no other.
//
// Adding a kind is one Descriptor here plus the driver package, its
// conformance test and its line in internal/app's provisionDeps; there is
// no init() registration.
package servicekind
