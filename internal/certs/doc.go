// Package certs issues, checks and describes the TLS certificates of sites.
//
// # Bundles
//
// A Bundle is a certificate chain (leaf first) and its private key, both
// PEM. Inspect reads one and says what it covers; Check is what an
// uploaded bundle must pass before aegir serves it: the chain parses and
// each certificate is signed by the next, the key is the leaf's, the leaf
// covers every name of the site and is valid now (and, with roots given,
// the chain leads to one of them). Bundles are secrets: they live in the
// secrets store (secrets.SiteCertRef), never in the entity store, and web
// drivers write their key files mode 0600.
//
// # Issuers
//
// Three issuers make bundles: the local CA (LocalCA, the default of
// `aegir dev`: a root made once and kept as a secret, so HTTPS works
// offline; its root certificate is downloadable from the dashboard for a
// browser or client to trust), ACME (ACME, any ACME directory such as
// Let's Encrypt, through the lego library, HTTP-01 only) and uploads.
//
// ACME's HTTP-01 challenge is answered by the site's own web server: the
// issuer writes each token's key authorization to a file in a challenge
// directory (ChallengeDir) that every web driver serves at
// /.well-known/acme-challenge/ over plain HTTP. Tokens are checked against
// the base64url alphabet before they name a file.
//
// # Failures
//
// An issuance that fails returns an *Error whose Hint tells the operator
// what to fix (DNS not pointing at the server, port 80 closed, rate
// limits); callers keep the site on its current certificate, or on HTTP
// when it has none.
package certs
