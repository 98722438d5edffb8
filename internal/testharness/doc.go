// Package testharness starts real services for tests: Consul, Nomad, Vault,
// Redis, MariaDB and PostgreSQL, each a real binary on free 127.0.0.1 ports
// with its data in a temporary directory, stopped when the test ends.
//
//	func TestSiteStore(t *testing.T) {
//		t.Parallel()
//		consul := testharness.SharedConsul(t)
//		prefix := testharness.UniquePrefix(t) // "test/TestSiteStore-1a2b3c4d/"
//		store := consulstore.New(consul.HTTPAddr, prefix)
//		...
//	}
//
// # Where the binaries come from
//
// Redis, MariaDB and PostgreSQL come from Debian packages that
// ops/install-deps.sh installs. Consul, Nomad and Vault are built from
// source by ops/build-agents.sh at the versions in ConsulVersion,
// NomadVersion and VaultVersion, into a cache outside the clone:
// $AEGIR_AGENT_CACHE/<name>-<version>/<name>, default
// ~/.cache/aegir/agents. BinPath looks there first, then on PATH.
//
// Pebble, Let's Encrypt's test ACME server, is a Go tool dependency of the
// main module (go.mod's tool line): Pebble builds it with `go build` into
// the same cache, $AEGIR_AGENT_CACHE/pebble-<PebbleVersion>/pebble, on
// first use. It runs with a TLS certificate the harness makes for it, a
// small DNS server of its own (PebbleConfig.Hosts; any other name does not
// resolve), PEBBLE_VA_NOSLEEP and no nonce rejections, and it validates
// every challenge for real against PebbleConfig.HTTPPort.
//
// SMTP is an in-process mail server (github.com/emersion/go-smtp) with
// STARTTLS on a SelfSigned certificate and AUTH PLAIN, for the email
// notification tests of package notify and of the built binary.
//
// When a binary is missing the test is skipped, so `go test ./...` works on
// a bare machine. With CI=true it fails instead, naming the script that
// installs the binary: a CI run that silently skipped every real-service
// test would prove nothing.
//
// # Isolation
//
// Consul, Redis, MariaDB, PostgreSQL, Vault and Nomad give each test its own
// server. Starting Consul costs about a second, so packages with many small
// tests share one agent per test binary with SharedConsul and keep to their
// own KV prefix from UniquePrefix. Nomad clusters are the most expensive
// (a few seconds); share one within a test with subtests where you can.
//
// # ACLs
//
// ConsulACL and NomadOptions.ACL start Consul and Nomad with their ACL
// systems on and deny by default, as production runs them; the management
// token is in ManagementToken, and ACLToken makes a token of just one
// policy (e.g. a file from ops/), so tests prove a policy is enough and
// what a missing permission looks like to aegir.
//
// # Processes
//
// Every service runs in its own process group with Pdeathsig=SIGKILL, so
// nothing outlives the test binary, even when it is killed. Pdeathsig fires
// when the forking OS thread exits, so all services are forked from one
// goroutine locked to a thread that lives as long as the binary. Stopping
// sends SIGTERM to the group and SIGKILL after 15 s. Nomad's executors and
// raw_exec tasks are deliberately detached from their client; Nomad's
// cleanup kills every process whose command line mentions the cluster's
// directory.
//
// Each service writes stdout and stderr to a log file in its directory.
// When a service fails to start, the last lines of that log are printed
// with t.Logf; when a test fails, the logs of the services it started are
// too.
//
// # Ports
//
// FreePort asks the kernel for a free port and never hands the same port out
// twice in one test binary. Another process can still take the port before
// the service binds it (test binaries of several packages run at once), so
// the Start functions retry with new ports, up to three times, when a
// service exits complaining the address is in use. Everything binds
// 127.0.0.1 only. Vault dev mode also listens on its API port + 1.
//
// # Running as root
//
// CI and the dev machines run tests as root. PostgreSQL refuses root, so
// initdb and postgres run as the `postgres` OS user in a directory under
// os.TempDir handed to that user (t.TempDir's parents are 0700 root and
// cannot be traversed by it). mariadbd is given --user=root. nginx and
// php-fpm run their masters as root and their workers as WebUser
// (www-data), as Debian's packages do; tests make their docroots
// reachable with WebReachable. Directories
// with unix sockets live under os.TempDir with short names, since socket
// paths are limited to 107 bytes.
//
// # Quirks worth knowing
//
//   - Nomad clients running as root mount a tmpfs on every task's secrets/
//     directory and leave it mounted when they stop; Nomad's cleanup
//     detaches every mount under the cluster directory before removing it.
//     Each client gets its own cgroup_parent, removed at cleanup.
//   - Nomad clients deny the cloud fingerprinters (env_aws, env_gce, ...):
//     they would probe the metadata address 169.254.169.254.
//   - Vault 1.13.2 built with Go 1.23+ panics at start unless
//     GODEBUG=x509negativeserial=1 (see ops/agents/vault/go.mod).
//   - Vault dev mode writes ~/.vault-token unless told not to; the harness
//     passes -dev-no-store-token and a private HOME.
//
// # Fault injection
//
// RedisServer.Restart, MariaDBServer.Stop/Start, PostgresServer.Stop/Start,
// VaultServer.Seal/Unseal and NomadCluster.StopClient exist for tests of the
// failure paths: a server that goes away and comes back on the same address.
// ConsulPersistent starts a Consul server that keeps its data on disk, for
// ConsulAgent.Restart (a -dev agent would come back empty);
// ConsulPersistentACL is the same with ACLs on (default deny), keeping
// its policies and tokens across the restart.
package testharness
