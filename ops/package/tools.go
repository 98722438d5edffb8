//go:build tools

// Wrapper module that pins and builds nfpm, the packager `just package`
// (ops/package/build.sh) uses to make aegir's Debian package. Separate
// from the main module so aegir's go.mod does not carry nfpm's
// dependencies; never imported.
package tools

import _ "github.com/goreleaser/nfpm/v2/cmd/nfpm"
