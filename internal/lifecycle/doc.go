// Package lifecycle holds what is checked about aegir's own life cycle:
// its Debian package (ops/package, built by `just package` with nfpm) and
// the runbooks in docs/ whose commands a test runs.
//
// The package test installs the .deb on the machine running the tests
// (root, a container-less Debian): dpkg -i, the unit through
// systemd-analyze verify, the packaged default config refusing to start,
// dpkg -r keeping /var/lib/aegir and the operator's config, dpkg -P
// removing them and the aegir user. It refuses to run when aegir is
// already installed there.
package lifecycle
