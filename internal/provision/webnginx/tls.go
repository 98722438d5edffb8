package webnginx

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aegirhq/aegir/internal/atomicfile"
	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// tlsFiles is where the certificate of the site name lives.
func (d *Driver) tlsFiles(name string) *tlsFiles {
	return &tlsFiles{
		listen:   listenSpec{Addr: d.cfg.ListenAddr, Port: d.cfg.HTTPSPort},
		cert:     filepath.Join(d.cfg.CertDir, name+".crt"),
		key:      filepath.Join(d.cfg.CertDir, name+".key"),
		certsDir: d.cfg.CertDir,
	}
}

// tlsChange is a write of a site's certificate files that can be undone.
type tlsChange struct {
	changed bool
	files   map[string][]byte // path → previous content (nil: none)
}

// undo puts the previous files back (or removes the new ones).
func (c *tlsChange) undo() {
	for p, prev := range c.files {
		if prev == nil {
			os.Remove(p)
		} else {
			atomicfile.Write(p, prev, 0o600)
		}
	}
}

// writeTLS checks the bundle and writes the site's .crt and .key, mode
// 0600; nothing when t is nil. A bad bundle is domain.ErrInvalid and
// writes nothing.
func (d *Driver) writeTLS(name string, t *provision.WebTLS) (*tlsChange, error) {
	c := &tlsChange{files: map[string][]byte{}}
	if t == nil {
		return c, nil
	}
	if _, err := certs.Inspect(certs.Bundle{CertPEM: t.CertPEM, KeyPEM: t.KeyPEM}); err != nil {
		return nil, domain.Invalid("tls", "certificate of %s: %v", name, err)
	}
	tf := d.tlsFiles(name)
	if err := os.MkdirAll(tf.certsDir, 0o700); err != nil {
		return nil, unavailable("publish", "create the certificate dir %s: %w", tf.certsDir, err)
	}
	for path, data := range map[string][]byte{tf.cert: t.CertPEM, tf.key: t.KeyPEM} {
		prev, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.undo()
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if bytes.Equal(prev, data) {
			continue
		}
		c.files[path] = prev
		c.changed = true
		if err := atomicfile.Write(path, data, 0o600); err != nil {
			c.undo()
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	}
	return c, nil
}

// removeTLS deletes the site's certificate files, if any.
func (d *Driver) removeTLS(name string) {
	tf := d.tlsFiles(name)
	for _, p := range []string{tf.cert, tf.key} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("certificate file not removed", "path", p, "err", err)
		}
	}
}

// ChallengeDir is where the back end writes ACME HTTP-01 answers for
// nginx to serve: <config_dir>/acme-challenge, which nginx's workers can
// read (aegir's data dir is closed to them).
func (d *Driver) ChallengeDir() string { return filepath.Join(d.cfg.ConfigDir, "acme-challenge") }

var _ provision.ChallengeDirer = (*Driver)(nil)
