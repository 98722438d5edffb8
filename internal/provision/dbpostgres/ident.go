package dbpostgres

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// validIdent allows database, role and table names of 1 to 63 characters
// (PostgreSQL's NAMEDATALEN) from [a-z0-9_] starting with a letter: safe
// before quoting, never folded, never taken for an option.
func validIdent(field, s string) error {
	if s == "" || len(s) > 63 {
		return domain.Invalid(field, "%q must be 1 to 63 characters", domain.Clip(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || i > 0 && (c == '_' || c >= '0' && c <= '9')) {
			return domain.Invalid(field, "%q may contain only a-z, 0-9 and '_', starting with a letter", domain.Clip(s))
		}
	}
	return nil
}

// quoteIdent quotes an identifier by PostgreSQL's rules: in double quotes,
// with a double quote doubled.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteLiteral quotes a string literal with standard_conforming_strings
// (on by default since 9.1) in the E” form, which does not depend on it:
// backslash and quote escaped. Only used for SCRAM verifiers, whose
// alphabet is base64 plus '$' and ':'.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `''`)
	return "E'" + s + "'"
}

// checkPassword refuses passwords PostgreSQL would treat differently from
// the verifier computed here: SCRAM runs the password through SASLprep,
// which is the identity (or falls back to the raw bytes) only for ASCII.
func checkPassword(pw string) error {
	if pw == "" {
		return domain.Invalid("password", "is empty")
	}
	for i := 0; i < len(pw); i++ {
		if pw[i] == 0 || pw[i] >= 0x80 {
			return domain.Invalid("password", "may contain only ASCII characters other than NUL")
		}
	}
	return nil
}

// scramVerifier computes the SCRAM-SHA-256 verifier PostgreSQL stores for a
// password (RFC 5802/7677, as in PQencryptPasswordConn):
// SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>. Roles get the
// verifier, so the password itself never travels in SQL text and never
// reaches a server log.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return scramVerifierSalt(password, salt, 4096)
}

func scramVerifierSalt(password string, salt []byte, iter int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iter, b64(salt), b64(stored[:]), b64(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
