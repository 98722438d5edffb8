package certs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aegirhq/aegir/internal/atomicfile"
)

// ChallengePath is the URL path prefix of HTTP-01 challenges.
const ChallengePath = "/.well-known/acme-challenge/"

// ChallengeDir is where the HTTP-01 key authorizations of a data dir live:
// <DataDir>/acme-challenge, served by every web driver at ChallengePath.
func ChallengeDir(dataDir string) string { return filepath.Join(dataDir, "acme-challenge") }

// ValidToken reports whether t is an ACME token: 1..256 characters of the
// base64url alphabet. Only such a token names a challenge file.
func ValidToken(t string) bool {
	if len(t) == 0 || len(t) > 256 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// dirProvider answers HTTP-01 challenges by writing each key
// authorization to <dir>/<token> (world-readable: it is public by design),
// which the web server serves.
type dirProvider struct{ dir string }

func (p dirProvider) Present(ctx context.Context, domain, token, keyAuth string) error {
	if !ValidToken(token) {
		return fmt.Errorf("the ACME server sent a token that is not base64url: %q", token)
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fmt.Errorf("create challenge dir: %w", err)
	}
	return atomicfile.Write(filepath.Join(p.dir, token), []byte(keyAuth), 0o644)
}

func (p dirProvider) CleanUp(ctx context.Context, domain, token, keyAuth string) error {
	if !ValidToken(token) {
		return nil
	}
	if err := os.Remove(filepath.Join(p.dir, token)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
