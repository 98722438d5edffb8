package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aegirhq/aegir/internal/cli"
	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/store/consulkv"
)

// runAdmin is "aegir admin": export and import open the entity store
// directly, configured exactly as `aegir server` is (-config, env, flags),
// because recovery happens when no server runs: an import goes into an
// empty store before the first server starts on it (a server would
// bootstrap an admin into it). Rebuild is an API client (internal/cli).
func runAdmin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "-help" || args[0] == "--help" {
		w := stderr
		if len(args) > 0 {
			w = stdout
		}
		fmt.Fprint(w, adminUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "export":
		return runExport(ctx, args[1:], stdout, stderr)
	case "import":
		return runImport(ctx, args[1:], stdin, stdout, stderr)
	case "rebuild":
		return cli.Rebuild(ctx, args[1:], os.Getenv, stdout, stderr)
	}
	fmt.Fprintf(stderr, "aegir admin: unknown command %q\n\n%s", args[0], adminUsage)
	return 2
}

const adminUsage = `Usage: aegir admin <command> [flags]

Disaster recovery of the whole installation:
  export    write every entity of the store to stdout (or -o FILE) as JSON
            lines: one consistent snapshot; sessions and credentials left
            out unless -key-file seals the credentials
  import    read an export (stdin or -i FILE) into an EMPTY store; -force
            writes over a store that holds keys
  rebuild   through the API: restore every installed site from its newest
            backup, one line per site (AEGIR_ADDR, AEGIR_TOKEN)

export and import open the store directly, configured as 'aegir server' is:
-config FILE, the environment (AEGIR_STORE, CONSUL_HTTP_ADDR, ...) and the
flags -store, -consul-addr, -data-dir. Run them on a server of the cluster.
A bolt store (aegir dev) is one file that one process may open: stop aegir
dev first. The operator key is a file of at least 32 bytes (-key-file, or
AEGIR_EXPORT_KEY_FILE): head -c 32 /dev/urandom | base64 > export.key

Examples:
  aegir admin export -config /etc/aegir/aegir.hcl -key-file export.key -o aegir.export
  aegir admin import -config /etc/aegir/aegir.hcl -key-file export.key -i aegir.export
  aegir admin rebuild
`

// adminFlags are the flags export and import share: the store's
// configuration and the operator key.
type adminFlags struct {
	fs      *flag.FlagSet
	cfgFile *string
	keyFile *string
}

func newAdminFlags(name string, stderr io.Writer) *adminFlags {
	fs := flag.NewFlagSet("aegir admin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config.Flags(fs)
	return &adminFlags{
		fs:      fs,
		cfgFile: fs.String("config", "", "the servers' HCL config file (its store block is used)"),
		keyFile: fs.String("key-file", "", "operator key file (at least 32 bytes) sealing credentials (env AEGIR_EXPORT_KEY_FILE)"),
	}
}

// open loads the configuration and opens its store's backend.
func (f *adminFlags) open() (store.KV, *config.Config, error) {
	cfg, err := config.Load(config.ModeServer, *f.cfgFile, os.Getenv, f.fs)
	if err != nil {
		return nil, nil, err
	}
	kv, err := openKV(cfg)
	return kv, cfg, err
}

func openKV(cfg *config.Config) (store.KV, error) {
	switch cfg.Store.Backend {
	case "bolt":
		path := filepath.Join(cfg.DataDir, "aegir.db")
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, err
		}
		kv, err := boltkv.Open(path, nil)
		if err != nil {
			return nil, fmt.Errorf("open the bolt store %s (stop aegir dev or aegir server first: one process at a time): %w", path, err)
		}
		return kv, nil
	case "consul":
		return consulkv.New(consulkv.Config{Address: cfg.Store.Consul.Address, Token: cfg.Store.Consul.Token,
			Prefix: cfg.Store.Consul.Prefix, Datacenter: cfg.Store.Consul.Datacenter})
	}
	return nil, fmt.Errorf("unknown store backend %q", cfg.Store.Backend)
}

// key reads the operator key from -key-file or AEGIR_EXPORT_KEY_FILE; nil
// without either.
func (f *adminFlags) key() ([]byte, error) {
	path := *f.keyFile
	if path == "" {
		path = os.Getenv("AEGIR_EXPORT_KEY_FILE")
	}
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the key file: %w", err)
	}
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) < store.MinExportKeyLen {
		return nil, fmt.Errorf("key file %s: %w: it holds %d bytes, at least %d are needed (head -c 32 /dev/urandom | base64 > %[1]s)", path, store.ErrExportKey, len(b), store.MinExportKeyLen)
	}
	return b, nil
}

func parseAdmin(f *adminFlags, args []string) (int, bool) {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if f.fs.NArg() > 0 {
		fmt.Fprintf(f.fs.Output(), "%s: unexpected argument %q\n", f.fs.Name(), f.fs.Arg(0))
		return 2, false
	}
	return 0, true
}

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newAdminFlags("export", stderr)
	out := f.fs.String("o", "", "write the export to this file (mode 0600) instead of stdout")
	if code, ok := parseAdmin(f, args); !ok {
		return code
	}
	key, err := f.key()
	if err != nil {
		fmt.Fprintln(stderr, "aegir admin export:", err)
		return 2
	}
	kv, _, err := f.open()
	if err != nil {
		fmt.Fprintln(stderr, "aegir admin export:", err)
		return 1
	}
	defer kv.Close()
	w := stdout
	var file *os.File
	if *out != "" {
		// Written next to its final name and renamed, so a failed export
		// never leaves a file that looks whole.
		file, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*")
		if err != nil {
			fmt.Fprintln(stderr, "aegir admin export:", err)
			return 1
		}
		defer os.Remove(file.Name())
		w = file
	}
	st, err := store.Export(ctx, kv, w, store.ExportOptions{Key: key})
	if err == nil && file != nil {
		err = errors.Join(file.Sync(), file.Close(), os.Rename(file.Name(), *out))
	}
	if err != nil {
		fmt.Fprintln(stderr, "aegir admin export:", err)
		return 1
	}
	what := "credentials left out (no -key-file)"
	if key != nil {
		what = fmt.Sprintf("%d credential records sealed with the key", st.Sealed)
	}
	fmt.Fprintf(stderr, "Exported %d keys at store index %d; %s; %d left out (sessions, fences).\n", st.Keys, st.Index, what, st.Dropped)
	return 0
}

func runImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newAdminFlags("import", stderr)
	in := f.fs.String("i", "", "read the export from this file instead of stdin")
	force := f.fs.Bool("force", false, "import into a store that holds keys, overwriting the export's keys")
	if code, ok := parseAdmin(f, args); !ok {
		return code
	}
	key, err := f.key()
	if err != nil {
		fmt.Fprintln(stderr, "aegir admin import:", err)
		return 2
	}
	r := stdin
	if *in != "" {
		file, err := os.Open(*in)
		if err != nil {
			fmt.Fprintln(stderr, "aegir admin import:", err)
			return 2
		}
		defer file.Close()
		r = file
	}
	kv, cfg, err := f.open()
	if err != nil {
		fmt.Fprintln(stderr, "aegir admin import:", err)
		return 1
	}
	st, err := store.Import(ctx, kv, r, store.ImportOptions{Key: key, Force: *force})
	if err != nil {
		kv.Close()
		fmt.Fprintln(stderr, "aegir admin import:", err)
		if errors.Is(err, store.ErrBadExport) || errors.Is(err, store.ErrExportKey) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stdout, "Imported %d keys (exported at store index %d; %d credential records opened with the key).\n", st.Keys, st.Index, st.Sealed)
	s := store.New(kv, &store.Config{})
	defer s.Close()
	if st.Sealed > 0 {
		return 0
	}
	// An export without a key holds no token and no password: give the
	// first admin a new token, where 'aegir server' keeps the bootstrap
	// one, so the cluster can be reached.
	path, err := newAdminToken(ctx, s, cfg.DataDir)
	if err != nil {
		fmt.Fprintln(stderr, "aegir admin import: the export held no credentials, and a new admin token could not be made:", err)
		return 1
	}
	fmt.Fprintf(stdout, "The export held no credentials: a new admin token is in %s.\n", path)
	return 0
}

// newAdminToken creates a token for the first admin and writes it to
// <dataDir>/admin-token (0600), returning the path.
func newAdminToken(ctx context.Context, s *store.Store, dataDir string) (string, error) {
	users, err := s.ListUsers(ctx)
	if err != nil {
		return "", err
	}
	for _, u := range users {
		if u.Role != domain.RoleAdmin {
			continue
		}
		_, secret, err := s.CreateToken(ctx, u.ID, "import", 0)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return "", err
		}
		path := filepath.Join(dataDir, "admin-token")
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			return "", err
		}
		return path, nil
	}
	return "", errors.New("the export has no admin user")
}
