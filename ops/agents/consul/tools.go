//go:build tools

// Package tools keeps github.com/hashicorp/consul in go.mod so that
// `go build github.com/hashicorp/consul` resolves to the pinned version.
package tools

import _ "github.com/hashicorp/consul"
