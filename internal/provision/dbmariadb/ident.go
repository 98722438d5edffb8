package dbmariadb

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// validIdent allows database, user and table names of 1 to 64 characters
// from [a-z0-9_] starting with a letter (NameFor gives "s_" and 20 [0-9a-z]),
// so a name is safe even before quoting, and never starts with '-' when it
// is passed as an argument to mariadb-dump.
func validIdent(field, s string) error {
	if s == "" || len(s) > 64 {
		return domain.Invalid(field, "%q must be 1 to 64 characters", domain.Clip(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c == '_' && i > 0 || c >= '0' && c <= '9' && i > 0) {
			return domain.Invalid(field, "%q may contain only a-z, 0-9 and '_', starting with a letter", domain.Clip(s))
		}
	}
	return nil
}

// validTable also allows upper case, which applications use for tables.
func validTable(s string) error {
	return validIdent("table", strings.ToLower(s))
}

// quoteIdent quotes an identifier by MariaDB's rules: in backticks, with a
// backtick doubled.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// quoteGrantDB quotes a database name for GRANT ... ON `db`.*, where '_'
// and '%' are LIKE wildcards: s_abc would also match sXabc. Escaping them
// makes the grant cover exactly this database.
func quoteGrantDB(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "_", `\_`)
	s = strings.ReplaceAll(s, "%", `\%`)
	return quoteIdent(s)
}

// quoteString quotes a string literal by MariaDB's rules (default
// sql_mode): in single quotes, with backslash and quote escaped. It is
// only used for values that passed an allow-list (user and host names)
// or that are hex (password hashes).
func quoteString(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "'", `\'`)
	return "'" + s + "'"
}

// validHost allows the host part of an account: names, IPs, '%' and '_'
// wildcards, netmasks.
func validHost(s string) error {
	if s == "" || len(s) > 255 {
		return domain.Invalid("user_hosts", "host %q must be 1 to 255 characters", domain.Clip(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_%:/", c) >= 0) {
			return domain.Invalid("user_hosts", "host %q may contain only letters, digits and . - _ %% : /", domain.Clip(s))
		}
	}
	return nil
}

// validClientHost allows the host part of a site's account: a name or an
// IP address, never a '%' or '_' wildcard.
func validClientHost(field, s string) error {
	if err := validHost(s); err != nil {
		return err
	}
	if strings.ContainsAny(s, "%_/") {
		return domain.Invalid(field, "host %q is a wildcard or netmask: a site's account is only for where its web server connects from", domain.Clip(s))
	}
	return nil
}

// account is 'user'@'host', both allow-listed.
func account(user, host string) string {
	return quoteString(user) + "@" + quoteString(host)
}

// nativePasswordHash is the mysql_native_password hash of a password,
// "*" and 40 upper-case hex digits. Accounts are created with IDENTIFIED BY
// PASSWORD '<hash>', so the password itself never travels in SQL text, a
// server log or the processlist.
func nativePasswordHash(password string) string {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}
