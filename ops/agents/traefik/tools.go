//go:build tools

// Package tools keeps github.com/traefik/traefik/v3 in go.mod so that
// `go build github.com/traefik/traefik/v3/cmd/traefik` resolves to the
// pinned version.
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
