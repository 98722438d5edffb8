//go:build tools

// Package tools keeps github.com/hashicorp/vault in go.mod so that
// `go build github.com/hashicorp/vault` resolves to the pinned version.
package tools

import _ "github.com/hashicorp/vault"
