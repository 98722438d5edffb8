//go:build tools

// Package tools keeps github.com/hashicorp/nomad in go.mod so that
// `go build github.com/hashicorp/nomad` resolves to the pinned version.
package tools

import _ "github.com/hashicorp/nomad"
