package platform

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MaxNginxSnippet bounds the nginx snippet a php platform ships.
const MaxNginxSnippet = 16 << 10

// snippetDirectives are the nginx directives a platform's snippet may use:
// the ones short URLs, deny rules and caching headers need, none of which
// reads or writes a file outside the platform or loads code. root and
// alias are allowed with a literal path inside the platform only.
// Everything else (include, load_module, lua and perl directives,
// fastcgi_pass, proxy_pass, access_log, set, if ...) is refused.
var snippetDirectives = map[string]bool{
	"location": true, "limit_except": true,
	"rewrite": true, "return": true, "try_files": true, "index": true, "error_page": true, "internal": true,
	"allow": true, "deny": true,
	"expires": true, "add_header": true, "default_type": true, "charset": true, "etag": true,
	"autoindex": true, "client_max_body_size": true, "log_not_found": true, "gzip": true,
	"root": true, "alias": true,
}

// SnippetDirectives lists the directives an nginx snippet may use, sorted.
func SnippetDirectives() []string {
	out := make([]string, 0, len(snippetDirectives))
	for k := range snippetDirectives {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readSnippet reads rel (checked by the manifest) inside the platform
// without following a link out of it, and checks its content.
func readSnippet(platformDir, rel string) (string, error) {
	root, err := os.OpenRoot(platformDir)
	if err != nil {
		return "", fmt.Errorf("nginx_snippet: %v", err)
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		return "", fmt.Errorf("nginx_snippet %s cannot be read inside the platform: %v", rel, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("nginx_snippet %s is not a regular file", rel)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxNginxSnippet+1))
	if err != nil {
		return "", fmt.Errorf("nginx_snippet %s: %v", rel, err)
	}
	if len(b) > MaxNginxSnippet {
		return "", fmt.Errorf("nginx_snippet %s is larger than %d bytes", rel, MaxNginxSnippet)
	}
	if err := CheckNginxSnippet(string(b), platformDir); err != nil {
		return "", fmt.Errorf("nginx_snippet %s: %w", rel, err)
	}
	return string(b), nil
}

// CheckNginxSnippet checks that src is a sequence of nginx directives from
// the allowed set (SnippetDirectives), with balanced blocks, fit to be
// placed inside a site's server block; root and alias must name a literal
// path inside platformDir. It tokenises as nginx does (quotes, backslash
// escapes, '#' comments), so nothing can hide a directive from it.
func CheckNginxSnippet(src, platformDir string) error {
	if len(src) > MaxNginxSnippet {
		return fmt.Errorf("larger than %d bytes", MaxNginxSnippet)
	}
	for _, r := range src {
		if r < 0x20 && r != '\n' && r != '\t' && r != '\r' || r == 0x7f {
			return fmt.Errorf("contains control characters")
		}
	}
	toks, err := snippetTokens(src)
	if err != nil {
		return err
	}
	depth := 0
	var stmt []snippetToken
	for _, t := range toks {
		switch {
		case !t.special:
			stmt = append(stmt, t)
			continue
		case t.text == "}":
			if len(stmt) > 0 {
				return fmt.Errorf("line %d: directive %q is not ended by ';'", stmt[0].line, stmt[0].text)
			}
			if depth == 0 {
				return fmt.Errorf("line %d: '}' closes a block that the snippet did not open", t.line)
			}
			depth--
			continue
		}
		// ';' or '{' ends a directive.
		if len(stmt) == 0 {
			return fmt.Errorf("line %d: %q without a directive", t.line, t.text)
		}
		if err := checkDirective(stmt, t.text == "{", platformDir); err != nil {
			return err
		}
		if t.text == "{" {
			depth++
			if depth > 4 {
				return fmt.Errorf("line %d: blocks nested deeper than 4", t.line)
			}
		}
		stmt = nil
	}
	if len(stmt) > 0 {
		return fmt.Errorf("line %d: directive %q is not ended by ';'", stmt[0].line, stmt[0].text)
	}
	if depth != 0 {
		return fmt.Errorf("a block is not closed")
	}
	return nil
}

func checkDirective(stmt []snippetToken, block bool, platformDir string) error {
	name := stmt[0]
	if name.quoted {
		return fmt.Errorf("line %d: a directive name may not be quoted", name.line)
	}
	d := name.text
	if !snippetDirectives[d] {
		why := "is not in the allowed set (" + strings.Join(SnippetDirectives(), ", ") + ")"
		switch {
		case d == "include" || d == "load_module":
			why = "would read a file from outside the platform's snippet"
		case strings.Contains(d, "lua") || strings.Contains(d, "perl"):
			why = "would run code inside nginx"
		}
		return fmt.Errorf("line %d: directive %q %s", name.line, d, why)
	}
	opens := d == "location" || d == "limit_except"
	if opens != block {
		if opens {
			return fmt.Errorf("line %d: %s needs a block { ... }", name.line, d)
		}
		return fmt.Errorf("line %d: %s cannot open a block", name.line, d)
	}
	if d == "root" || d == "alias" {
		if len(stmt) != 2 {
			return fmt.Errorf("line %d: %s takes one path", name.line, d)
		}
		p := stmt[1].text
		dir := filepath.Clean(platformDir)
		c := filepath.Clean(p)
		if strings.ContainsAny(p, "$\\") || !filepath.IsAbs(p) || c != strings.TrimSuffix(p, "/") || c != dir && !strings.HasPrefix(c, dir+"/") {
			return fmt.Errorf("line %d: %s %q must be a literal absolute path inside the platform %s", name.line, d, p, dir)
		}
	}
	return nil
}

type snippetToken struct {
	text    string
	line    int
	quoted  bool
	special bool // ';', '{' or '}'
}

// snippetTokens splits src the way nginx's configuration parser does.
func snippetTokens(src string) ([]snippetToken, error) {
	var toks []snippetToken
	line := 1
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			toks = append(toks, snippetToken{text: string(c), line: line, special: true})
			i++
		case c == '"' || c == '\'':
			q := c
			start := line
			var b strings.Builder
			i++
			for {
				if i >= len(src) {
					return nil, fmt.Errorf("line %d: quoted string is not closed", start)
				}
				if src[i] == '\\' && i+1 < len(src) {
					b.WriteByte(src[i])
					b.WriteByte(src[i+1])
					if src[i+1] == '\n' {
						line++
					}
					i += 2
					continue
				}
				if src[i] == q {
					i++
					break
				}
				if src[i] == '\n' {
					line++
				}
				b.WriteByte(src[i])
				i++
			}
			if i < len(src) && !strings.ContainsRune(" \t\r\n;{}", rune(src[i])) {
				return nil, fmt.Errorf("line %d: a quoted string must be followed by a space, ';' or '{'", line)
			}
			toks = append(toks, snippetToken{text: b.String(), line: start, quoted: true})
		default:
			var b strings.Builder
			for i < len(src) {
				c := src[i]
				if c == '\\' && i+1 < len(src) {
					if strings.IndexByte(" \t\r\n;{}\"'", src[i+1]) >= 0 {
						return nil, fmt.Errorf("line %d: outside quotes a backslash may not escape a space, quote, ';', '{' or '}'", line)
					}
					b.WriteByte(c)
					b.WriteByte(src[i+1])
					i += 2
					continue
				}
				if c == '$' && i+1 < len(src) && src[i+1] == '{' {
					return nil, fmt.Errorf("line %d: write ${name} variables as $name", line)
				}
				if strings.IndexByte(" \t\r\n;{}", c) >= 0 {
					break
				}
				if c == '"' || c == '\'' {
					return nil, fmt.Errorf("line %d: a quote inside a word", line)
				}
				b.WriteByte(c)
				i++
			}
			toks = append(toks, snippetToken{text: b.String(), line: line})
		}
	}
	return toks, nil
}
