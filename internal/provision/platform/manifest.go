package platform

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsimple"
	"github.com/zclconf/go-cty/cty"

	"github.com/aegirhq/aegir/internal/domain"
)

// ManifestFile is the manifest of a php platform, at the platform's root.
const ManifestFile = "aegir.hcl"

// MaxManifestSize bounds aegir.hcl.
const MaxManifestSize = 64 << 10

// MaxEnv bounds the number of variables a manifest's env block declares.
const MaxEnv = 32

// Manifest is a php platform's aegir.hcl (README.md, "The php platform
// manifest", is the reference of every key):
//
//	name    = "php-app"          # optional, shown as the platform's release
//	version = "1.0"              # optional
//	docroot = "public"           # relative to the platform root
//	database = true              # false: sites get no database
//	nginx_snippet = "aegir/nginx.conf"  # included in each site's nginx vhost
//
//	hooks {
//	  install      = ["php", "bin/install.php"]   # once, after the database and settings exist
//	  cron         = ["php", "bin/cron.php"]
//	  stats        = ["php", "bin/stats.php"]     # prints a JSON object of numbers
//	  packages     = ["php", "bin/packages.php"]  # prints a JSON array of {name, type, release}
//	  post-restore = ["php", "bin/hook.php", "post-restore"]
//	  post-clone   = ["php", "bin/hook.php", "post-clone"]
//	  post-migrate = ["php", "bin/hook.php", "post-migrate"]
//	  verify       = ["php", "bin/hook.php", "verify"]
//	  pre-delete   = ["php", "bin/hook.php", "pre-delete"]
//	}
//
//	env {
//	  APP_ENV = "production"     # to PHP as FastCGI params, and to hooks
//	}
//
//	expect {
//	  path = "/"                 # after publishing, GET this path
//	  text = "Welcome"           # and find this text in the body
//	}
//
// Each hook is an argv list, run without a shell in the platform root with
// the site's context in environment variables (AEGIR_SITE_DOMAIN,
// AEGIR_SITE_DIR, AEGIR_SETTINGS, AEGIR_DB_DRIVER, AEGIR_DB_HOST,
// AEGIR_DB_PORT, AEGIR_DB_SOCKET, AEGIR_DB_PATH, AEGIR_DB_NAME,
// AEGIR_DB_USER, AEGIR_DB_PASSWORD) and the env block's variables. Its
// program is a name looked up on the PATH ("php") or a relative path
// inside the platform ("bin/tool"); an absolute path or one leaving the
// platform is refused.
type Manifest struct {
	Name         string    `hcl:"name,optional"`
	Version      string    `hcl:"version,optional"`
	Docroot      string    `hcl:"docroot"`
	Database     *bool     `hcl:"database,optional"`
	NginxSnippet string    `hcl:"nginx_snippet,optional"`
	Hooks        *Hooks    `hcl:"hooks,block"`
	EnvBlock     *envBlock `hcl:"env,block"`
	Expect       *Expect   `hcl:"expect,block"`

	// Env is the env block's variables, checked.
	Env map[string]string
	// snippet is the nginx snippet's content, read and checked by Load.
	snippet string
}

type envBlock struct {
	Body hcl.Body `hcl:",remain"`
}

// Hooks are the php platform's commands, each an argv list.
type Hooks struct {
	Install     []string `hcl:"install,optional"`
	Cron        []string `hcl:"cron,optional"`
	Stats       []string `hcl:"stats,optional"`
	Packages    []string `hcl:"packages,optional"`
	PostRestore []string `hcl:"post-restore,optional"`
	PostClone   []string `hcl:"post-clone,optional"`
	PostMigrate []string `hcl:"post-migrate,optional"`
	Verify      []string `hcl:"verify,optional"`
	PreDelete   []string `hcl:"pre-delete,optional"`
}

// byName returns every hook by its name in the manifest.
func (h *Hooks) byName() map[string][]string {
	return map[string][]string{
		HookInstall: h.Install, HookCron: h.Cron, HookStats: h.Stats, HookPackages: h.Packages,
		HookPostRestore: h.PostRestore, HookPostClone: h.PostClone, HookPostMigrate: h.PostMigrate,
		HookVerify: h.Verify, HookPreDelete: h.PreDelete,
	}
}

// Expect is a manifest's health check: after a task publishes a site, the
// answer to GET Path must be 2xx or 3xx and its body must contain Text.
type Expect struct {
	Path string `hcl:"path,optional"`
	Text string `hcl:"text"`
}

// LoadManifest reads and validates an aegir.hcl file.
func LoadManifest(file string) (*Manifest, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	return ParseManifest(file, b)
}

// ParseManifest parses and validates manifest source; filename is used in
// error messages.
func ParseManifest(filename string, src []byte) (*Manifest, error) {
	if len(src) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrManifest, filename, MaxManifestSize)
	}
	var m Manifest
	if err := hclsimple.Decode("aegir.hcl", src, nil, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrManifest, filename, err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrManifest, filename, err)
	}
	return &m, nil
}

// HasDatabase reports whether sites of the platform get a database
// (database = false says they do not).
func (m *Manifest) HasDatabase() bool { return m.Database == nil || *m.Database }

func (m *Manifest) validate() error {
	if err := checkText("name", m.Name); err != nil {
		return err
	}
	if err := checkText("version", m.Version); err != nil {
		return err
	}
	if err := checkRelPath("docroot", m.Docroot); err != nil {
		return err
	}
	if m.NginxSnippet != "" {
		if err := checkRelPath("nginx_snippet", m.NginxSnippet); err != nil {
			return err
		}
		if m.NginxSnippet == "." {
			return fmt.Errorf("nginx_snippet must name a file inside the platform")
		}
	}
	if m.Hooks == nil {
		m.Hooks = &Hooks{}
	}
	for name, argv := range m.Hooks.byName() {
		if err := checkHook(name, argv); err != nil {
			return err
		}
	}
	if err := m.decodeEnv(); err != nil {
		return err
	}
	if e := m.Expect; e != nil {
		if e.Path == "" {
			e.Path = "/"
		}
		if !strings.HasPrefix(e.Path, "/") || len(e.Path) > 1024 {
			return fmt.Errorf("expect path %q must start with '/' (at most 1024 characters)", domain.Clip(e.Path))
		}
		for i := 0; i < len(e.Path); i++ {
			if c := e.Path[i]; c <= ' ' || c >= 0x7f || c == '#' {
				return fmt.Errorf("expect path %q may not contain spaces, control characters, '#' or non-ASCII bytes (percent-encode them)", domain.Clip(e.Path))
			}
		}
		if e.Text == "" || len(e.Text) > 256 {
			return fmt.Errorf("expect text must be 1 to 256 characters")
		}
		if err := checkText("expect text", e.Text); err != nil {
			return err
		}
	}
	return nil
}

// checkRelPath refuses a path that is absolute, unclean, leaves the
// platform or holds characters other than letters, digits, '/', '.', '_'
// and '-'.
func checkRelPath(field, p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") || !safePath(p) {
		return fmt.Errorf("%s %q must be a clean relative path inside the platform (letters, digits, '/', '.', '_', '-')", field, domain.Clip(p))
	}
	return nil
}

func checkHook(name string, argv []string) error {
	if argv == nil {
		return nil
	}
	if len(argv) == 0 || argv[0] == "" {
		return fmt.Errorf("hook %s is empty; remove it or give a program and its arguments", name)
	}
	if len(argv) > 64 {
		return fmt.Errorf("hook %s has more than 64 arguments", name)
	}
	for _, a := range argv {
		if err := checkText("hook "+name, a); err != nil {
			return err
		}
	}
	// Arguments are passed as they are (no shell), so metacharacters in
	// them are harmless; the program is what must stay in bounds.
	p := argv[0]
	if path.IsAbs(p) {
		return fmt.Errorf("hook %s program %q is an absolute path: name a program on the PATH (\"php\") or a path relative to the platform (\"bin/tool\")", name, domain.Clip(p))
	}
	if p == "." || p == ".." {
		return fmt.Errorf("hook %s program %q is a directory, not a program: name a program on the PATH (\"php\") or a path relative to the platform (\"bin/tool\")", name, p)
	}
	if strings.Contains(p, "/") {
		if err := checkRelPath("hook "+name+" program", p); err != nil {
			return fmt.Errorf("hook %s program %q leaves the platform directory or is not a clean relative path", name, domain.Clip(p))
		}
	}
	return nil
}

// reservedEnv are names (or, ending in '_', prefixes) an env block may not
// set: aegir's own, the process basics, the loader's, and the FastCGI
// params nginx sets or that PHP reads as configuration.
var reservedEnv = []string{
	"AEGIR_", "PATH", "HOME", "LANG", "LC_", "LD_", "SHELL", "USER", "LOGNAME", "IFS", "ENV", "BASH_ENV", "TMPDIR",
	"PHP_VALUE", "PHP_ADMIN_VALUE", "PHPRC", "PHP_INI_SCAN_DIR", "HTTP_", "HTTPS", "SCRIPT_", "QUERY_STRING", "REQUEST_",
	"CONTENT_", "DOCUMENT_", "SERVER_", "REMOTE_", "GATEWAY_INTERFACE", "PATH_INFO", "PATH_TRANSLATED", "REDIRECT_", "AUTH_TYPE",
}

// CheckEnvName checks a name an env block declares: A-Z, 0-9 and '_',
// starting with a letter, at most 64 characters, and none of the reserved
// names.
func CheckEnvName(k string) error {
	if k == "" || len(k) > 64 {
		return fmt.Errorf("env name %q must be 1 to 64 characters", domain.Clip(k))
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || i > 0 && (c == '_' || c >= '0' && c <= '9')) {
			return fmt.Errorf("env name %q may contain only A-Z, 0-9 and '_', starting with a letter", domain.Clip(k))
		}
	}
	for _, r := range reservedEnv {
		if k == r || strings.HasSuffix(r, "_") && strings.HasPrefix(k, r) {
			return fmt.Errorf("env name %s is reserved (aegir, the process or FastCGI sets it)", k)
		}
	}
	return nil
}

// CheckEnvValue checks an env value: at most 1024 characters of letters,
// digits, spaces and / . _ - : @ + = , (what nginx passes as a quoted
// FastCGI param without interpretation: a site name such as "Aegir Wiki"
// fits, a quote, backslash or '$' does not).
func CheckEnvValue(k, v string) error {
	if len(v) > 1024 {
		return fmt.Errorf("env %s is longer than 1024 characters", k)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(" /._-:@+=,", c) >= 0) {
			return fmt.Errorf("env %s may contain only letters, digits, spaces and / . _ - : @ + = , (no quotes, backslashes, '$' or control characters)", k)
		}
	}
	return nil
}

func (m *Manifest) decodeEnv() error {
	if m.EnvBlock == nil || m.EnvBlock.Body == nil {
		return nil
	}
	attrs, diags := m.EnvBlock.Body.JustAttributes()
	if diags.HasErrors() {
		return fmt.Errorf("env: %v", diags)
	}
	if len(attrs) > MaxEnv {
		return fmt.Errorf("env declares %d variables, at most %d are allowed", len(attrs), MaxEnv)
	}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	m.Env = make(map[string]string, len(attrs))
	for _, k := range names {
		if err := CheckEnvName(k); err != nil {
			return err
		}
		v, diags := attrs[k].Expr.Value(nil)
		if diags.HasErrors() {
			return fmt.Errorf("env %s: %v", k, diags)
		}
		if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
			return fmt.Errorf("env %s must be a string", k)
		}
		s := v.AsString()
		if err := CheckEnvValue(k, s); err != nil {
			return err
		}
		m.Env[k] = s
	}
	return nil
}

func checkText(field, s string) error {
	if len(s) > 1024 {
		return fmt.Errorf("%s is longer than 1024 characters", field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s contains control characters", field)
		}
	}
	return nil
}

func safePath(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
