// Package lifecycle holds what is checked about aegir's own life cycle:
// its Debian package (ops/package, built by `just package` with nfpm) and
// the runbooks in docs/ whose commands tests run.
//
// Runbooks mark the blocks a test runs with the info string
// "sh runnable:NAME" (runbook.go reads them); a test runs them by name, in
// the runbook's order, and does between them what the operator would and
// a test machine cannot (systemctl, losing a Consul).
//
// The package test installs the .deb on the machine running the tests
// (root, a container-less Debian) through docs/install.md's blocks: dpkg
// -i, the unit through systemd-analyze verify, the packaged default config
// refusing to start, the runbook's one-machine config started as the
// unit starts it, an upgrade keeping the operator's config, dpkg -r
// keeping /var/lib/aegir and the config, dpkg -P removing them and the
// aegir user. It refuses to run when aegir is already installed there.
package lifecycle
