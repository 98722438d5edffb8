package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/aegirhq/aegir/internal/atomicfile"
)

// File names inside a FileStore's directory.
const (
	fileSecrets = "secrets.enc"
	fileKey     = "secrets.key"
	fileLock    = "secrets.lock"
)

// fileMagic starts secrets.enc and is its AEAD additional data, so a file of
// another format or version is refused rather than misread.
const fileMagic = "aegir-secrets-v1\n"

// MaxRefLen bounds a reference.
const MaxRefLen = 256

// ErrInvalidRef means a reference has characters or segments the stores do
// not accept.
var ErrInvalidRef = errors.New("invalid secret reference")

// FileStore keeps every secret in one AES-256-GCM encrypted JSON document
// (dir/secrets.enc) whose 32-byte key sits beside it (dir/secrets.key, mode
// 0600). It is the embedded default for a single machine: every operation
// takes a flock on dir/secrets.lock (shared to read, exclusive to write), and
// a write re-reads the document under the lock, changes one entry and
// replaces the file by rename, so several aegir processes on one machine
// never lose each other's writes.
type FileStore struct {
	dir string
	key []byte
}

var _ Store = (*FileStore)(nil)

// OpenFile opens (creating on first use) the file store in dir. The dir is
// created with mode 0700; the key is generated with crypto/rand.
func OpenFile(dir string) (*FileStore, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("secrets dir %q must be an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create secrets dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make secrets dir %s private: %w", dir, err)
	}
	s := &FileStore{dir: dir}
	unlock, err := s.lock(syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	key, err := s.loadOrCreateKey()
	if err != nil {
		return nil, err
	}
	s.key = key
	return s, nil
}

// Dir returns the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// Get returns the secret at ref, or ErrNotFound.
func (s *FileStore) Get(ctx context.Context, ref string) (map[string]string, error) {
	if err := ValidateRef(ref); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	unlock, err := s.lock(syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := s.read()
	if err != nil {
		return nil, err
	}
	v, ok := all[ref]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	if v == nil {
		v = map[string]string{}
	}
	return v, nil
}

// Put stores data at ref, replacing what was there.
func (s *FileStore) Put(ctx context.Context, ref string, data map[string]string) error {
	if err := ValidateRef(ref); err != nil {
		return err
	}
	cp := make(map[string]string, len(data))
	for k, v := range data {
		cp[k] = v
	}
	return s.update(ctx, func(all map[string]map[string]string) bool {
		all[ref] = cp
		return true
	})
}

// Delete removes the secret at ref; a missing one is not an error.
func (s *FileStore) Delete(ctx context.Context, ref string) error {
	if err := ValidateRef(ref); err != nil {
		return err
	}
	return s.update(ctx, func(all map[string]map[string]string) bool {
		if _, ok := all[ref]; !ok {
			return false
		}
		delete(all, ref)
		return true
	})
}

// update runs change on the current document under the exclusive lock and
// writes the result back when change reports a modification.
func (s *FileStore) update(ctx context.Context, change func(map[string]map[string]string) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock, err := s.lock(syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	all, err := s.read()
	if err != nil {
		return err
	}
	if !change(all) {
		return nil
	}
	return s.write(all)
}

// ValidateRef checks a reference: 1 to MaxRefLen characters, slash-separated
// segments of letters, digits, '_', '-' and '.', none empty, "." or "..".
func ValidateRef(ref string) error {
	if ref == "" {
		return fmt.Errorf("%w: it is empty", ErrInvalidRef)
	}
	if len(ref) > MaxRefLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidRef, MaxRefLen)
	}
	for seg := range strings.SplitSeq(ref, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q has an empty, '.' or '..' segment", ErrInvalidRef, ref)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
				return fmt.Errorf("%w: %q may contain only letters, digits, '/', '_', '-' and '.'", ErrInvalidRef, ref)
			}
		}
	}
	return nil
}

// lock takes a flock of the given kind on the lock file and returns the
// function that releases it.
func (s *FileStore) lock(how int) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, fileLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open secrets lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// loadOrCreateKey reads the key, or generates it when neither the key nor
// the encrypted file exists. Called under the exclusive lock.
func (s *FileStore) loadOrCreateKey() ([]byte, error) {
	keyPath := filepath.Join(s.dir, fileKey)
	fi, err := os.Stat(keyPath)
	switch {
	case err == nil:
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%s is readable by other users (mode %v): run chmod 600 on it", keyPath, fi.Mode().Perm())
		}
		key, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, fmt.Errorf("read secrets key: %w", err)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("%s is not a 32-byte key (it has %d bytes): restore it from backup", keyPath, len(key))
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("stat secrets key: %w", err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, fileSecrets)); err == nil {
		return nil, fmt.Errorf("%s exists but its key %s is missing: restore the key from backup, or move the encrypted file away to start empty", filepath.Join(s.dir, fileSecrets), keyPath)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate secrets key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(s.dir, fileKey), key, 0o600); err != nil {
		return nil, fmt.Errorf("write secrets key: %w", err)
	}
	return key, nil
}

func (s *FileStore) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(s.key)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	return cipher.NewGCM(block)
}

// read decrypts the document; a missing file is an empty document. Errors
// never quote the plaintext.
func (s *FileStore) read() (map[string]map[string]string, error) {
	path := filepath.Join(s.dir, fileSecrets)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secrets: %w", err)
	}
	g, err := s.aead()
	if err != nil {
		return nil, err
	}
	if len(b) < len(fileMagic)+g.NonceSize() || string(b[:len(fileMagic)]) != fileMagic {
		return nil, fmt.Errorf("%s is not an aegir secrets file of this version: restore it from backup", path)
	}
	rest := b[len(fileMagic):]
	plain, err := g.Open(nil, rest[:g.NonceSize()], rest[g.NonceSize():], []byte(fileMagic))
	if err != nil {
		return nil, fmt.Errorf("%s cannot be decrypted with %s: the key was replaced or the file is damaged; restore both from the same backup", path, fileKey)
	}
	all := map[string]map[string]string{}
	if err := json.Unmarshal(plain, &all); err != nil {
		// The JSON error could quote plaintext: say only that it is corrupt.
		return nil, fmt.Errorf("%s decrypts but does not hold a secrets document: restore it from backup", path)
	}
	return all, nil
}

// write encrypts the document with a fresh nonce and replaces the file.
func (s *FileStore) write(all map[string]map[string]string) error {
	plain, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("encode secrets: %w", err)
	}
	g, err := s.aead()
	if err != nil {
		return err
	}
	out := make([]byte, 0, len(fileMagic)+g.NonceSize()+len(plain)+g.Overhead())
	out = append(out, fileMagic...)
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("generate nonce: %w", err)
	}
	out = append(out, nonce...)
	out = g.Seal(out, nonce, plain, []byte(fileMagic))
	clear(plain)
	if err := atomicfile.Write(filepath.Join(s.dir, fileSecrets), out, 0o600); err != nil {
		return fmt.Errorf("write secrets: %w", err)
	}
	return nil
}
