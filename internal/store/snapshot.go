package store

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// An export is the whole entity store as JSON lines, read in one List of
// the backend (one Consul read, one bbolt transaction), so it is a
// consistent snapshot however busy the cluster is:
//
//	{"aegir_export":1,"index":N,"created_at":"…","sealed":false,"left_out":[…]}
//	{"k":"sites/01…","v":{…}}          a JSON value as it is
//	{"k":"logs/…","b64":"…"}           any other value, base64
//	{"k":"users/01…","sealed":"…"}     a credential, encrypted (see below)
//	{"end":true,"keys":N}              so a cut-off file is refused
//
// Left out always: dashboard sessions (people log in again), fencing
// tokens (they belong to the lock service the old cluster used; a fresh
// Redis starts its tokens again from 1) and meta/writes. Credentials —
// API tokens' hashes and users' password hashes — are left out too
// (tokens dropped, password_hash removed from users) unless the export is
// made with an operator key: then every record under users/ and tokens/
// is sealed with AES-256-GCM under SHA-256 of the key, its key name as
// additional data, and import needs the same key. Service credentials and
// sites' database passwords are not in the store at all (secrets backend:
// Vault or the file store), so no export holds them.

// ExportVersion is the format of an export's records.
const ExportVersion = 1

// MinExportKeyLen is the shortest operator key accepted, in bytes.
const MinExportKeyLen = 32

var (
	// ErrStoreNotEmpty means an import was refused because the store holds
	// keys already.
	ErrStoreNotEmpty = errors.New("the store is not empty")
	// ErrBadExport means the input is not a whole aegir export.
	ErrBadExport = errors.New("not a whole aegir export")
	// ErrExportKey means the operator key is missing, too short or wrong.
	ErrExportKey = errors.New("export key")
)

// leftOut are the key prefixes no export carries.
var leftOut = []string{prefixSessions, prefixFences, keyWrites}

// credentialPrefixes hold credentials: sealed with a key, else dropped
// (tokens) or stripped (users' password hashes).
var credentialPrefixes = []string{prefixUsers, prefixTokens}

type exportHeader struct {
	Format    int       `json:"aegir_export"`
	Index     uint64    `json:"index"`
	CreatedAt time.Time `json:"created_at"`
	Sealed    bool      `json:"sealed"`
	LeftOut   []string  `json:"left_out"`
}

type exportRecord struct {
	Key    string          `json:"k,omitempty"`
	Value  json.RawMessage `json:"v,omitempty"`
	B64    []byte          `json:"b64,omitempty"`
	Sealed []byte          `json:"sealed,omitempty"`
	End    bool            `json:"end,omitempty"`
	Keys   int             `json:"keys,omitempty"`
}

// SnapshotStats counts what an export or import carried.
type SnapshotStats struct {
	// Index is the store index the export reflects.
	Index uint64
	// Keys were written out (export) or in (import).
	Keys int
	// Sealed of them were credentials encrypted with the key.
	Sealed int
	// Dropped were left out (sessions, fences, tokens without a key).
	Dropped int
}

// ExportOptions configure Export.
type ExportOptions struct {
	// Key is the operator key that seals credentials (at least
	// MinExportKeyLen bytes). Default: none, and credentials are left out.
	Key []byte
	// Now stamps the header. Default: time.Now.
	Now func() time.Time
}

// ImportOptions configure Import.
type ImportOptions struct {
	// Key opens sealed credentials; an export made with a key needs it.
	Key []byte
	// Force imports into a store that holds keys already, overwriting the
	// keys the export has and keeping the others. Default false: refuse.
	Force bool
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) < MinExportKeyLen {
		return nil, fmt.Errorf("%w: at least %d bytes are needed (e.g. head -c 32 /dev/urandom | base64 > export.key)", ErrExportKey, MinExportKeyLen)
	}
	sum := sha256.Sum256(key)
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func hasAnyPrefix(key string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Export writes every key of kv to w (see above).
func Export(ctx context.Context, kv KV, w io.Writer, opts ExportOptions) (SnapshotStats, error) {
	var st SnapshotStats
	var aead cipher.AEAD
	if opts.Key != nil {
		var err error
		if aead, err = gcm(opts.Key); err != nil {
			return st, err
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	pairs, index, err := kv.List(ctx, "")
	if err != nil {
		return st, fmt.Errorf("read the store: %w", err)
	}
	st.Index = index
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	hdr := exportHeader{Format: ExportVersion, Index: index, CreatedAt: now().UTC(), Sealed: aead != nil, LeftOut: leftOut}
	if aead == nil {
		hdr.LeftOut = append(append([]string{}, leftOut...), prefixTokens, "users/*: password_hash")
	}
	if err := enc.Encode(hdr); err != nil {
		return st, err
	}
	for _, p := range pairs {
		if p.Key == keyWrites || hasAnyPrefix(p.Key, leftOut) {
			st.Dropped++
			continue
		}
		rec := exportRecord{Key: p.Key}
		switch {
		case hasAnyPrefix(p.Key, credentialPrefixes) && aead != nil:
			nonce := make([]byte, aead.NonceSize())
			if _, err := rand.Read(nonce); err != nil {
				return st, err
			}
			rec.Sealed = aead.Seal(nonce, nonce, p.Value, []byte(p.Key))
			st.Sealed++
		case strings.HasPrefix(p.Key, prefixTokens):
			st.Dropped++
			continue
		case strings.HasPrefix(p.Key, prefixUsers):
			v, err := withoutField(p.Value, "password_hash")
			if err != nil {
				return st, fmt.Errorf("%s: %w", p.Key, err)
			}
			rec.Value = v
		case json.Valid(p.Value) && len(p.Value) > 0:
			rec.Value = p.Value
		default:
			rec.B64 = p.Value
			if rec.B64 == nil {
				rec.B64 = []byte{}
			}
		}
		if err := enc.Encode(rec); err != nil {
			return st, err
		}
		st.Keys++
	}
	if err := enc.Encode(exportRecord{End: true, Keys: st.Keys}); err != nil {
		return st, err
	}
	return st, bw.Flush()
}

// withoutField returns the JSON object v without field name.
func withoutField(v []byte, name string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, err
	}
	delete(m, name)
	return json.Marshal(m)
}

// Import writes an export read from r into kv, refusing a store that holds
// keys already unless opts.Force. It reads the whole export before writing
// anything, so a cut-off or damaged file, or a wrong key, changes nothing.
// Writes go in transactions of at most MaxTxnOps keys and MaxTxnSize bytes;
// a failure part-way leaves the keys written so far (run it again with
// Force).
func Import(ctx context.Context, kv KV, r io.Reader, opts ImportOptions) (SnapshotStats, error) {
	var st SnapshotStats
	dec := json.NewDecoder(bufio.NewReader(r))
	var hdr exportHeader
	if err := dec.Decode(&hdr); err != nil || hdr.Format == 0 {
		return st, fmt.Errorf("%w: no header line (%v)", ErrBadExport, err)
	}
	if hdr.Format != ExportVersion {
		return st, fmt.Errorf("%w: format %d, this aegir reads format %d", ErrBadExport, hdr.Format, ExportVersion)
	}
	st.Index = hdr.Index
	var aead cipher.AEAD
	if hdr.Sealed {
		if opts.Key == nil {
			return st, fmt.Errorf("%w: the export's credentials are sealed: give the key it was made with", ErrExportKey)
		}
		var err error
		if aead, err = gcm(opts.Key); err != nil {
			return st, err
		}
	}
	var pairs []Pair
	ended := false
	for {
		var rec exportRecord
		err := dec.Decode(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("%w: record %d: %v", ErrBadExport, len(pairs)+1, err)
		}
		if ended {
			return st, fmt.Errorf("%w: records after the end line", ErrBadExport)
		}
		if rec.End {
			if rec.Keys != len(pairs) {
				return st, fmt.Errorf("%w: the end line counts %d keys, the file has %d", ErrBadExport, rec.Keys, len(pairs))
			}
			ended = true
			continue
		}
		if rec.Key == "" {
			return st, fmt.Errorf("%w: record %d has no key", ErrBadExport, len(pairs)+1)
		}
		p := Pair{Key: rec.Key}
		switch {
		case rec.Sealed != nil:
			if aead == nil || len(rec.Sealed) < aead.NonceSize() {
				return st, fmt.Errorf("%w: %s is sealed but the header says the export is not", ErrBadExport, rec.Key)
			}
			n := aead.NonceSize()
			v, err := aead.Open(nil, rec.Sealed[:n], rec.Sealed[n:], []byte(rec.Key))
			if err != nil {
				return st, fmt.Errorf("%w: %s does not open with this key: is it the key the export was made with?", ErrExportKey, rec.Key)
			}
			p.Value = v
			st.Sealed++
		case rec.Value != nil:
			p.Value = rec.Value
		case rec.B64 != nil:
			p.Value = rec.B64
		default:
			return st, fmt.Errorf("%w: %s has no value", ErrBadExport, rec.Key)
		}
		if p.Key == keySchema {
			var sc Schema
			if err := json.Unmarshal(p.Value, &sc); err != nil {
				return st, fmt.Errorf("%w: meta/schema: %v", ErrBadExport, err)
			}
			if sc.Version > SchemaVersion {
				return st, fmt.Errorf("%w: %w: its records are schema %d (written by aegir %s) and this aegir reads schema %d: import it with that release or a newer one",
					ErrBadExport, ErrSchemaTooNew, sc.Version, sc.WrittenBy, SchemaVersion)
			}
		}
		if len(p.Value) > MaxValueSize {
			return st, fmt.Errorf("%w: %s: %w", ErrBadExport, rec.Key, ErrValueTooLarge)
		}
		pairs = append(pairs, p)
	}
	if !ended {
		return st, fmt.Errorf("%w: no end line (the file was cut off)", ErrBadExport)
	}
	existing, _, err := kv.List(ctx, "")
	if err != nil {
		return st, fmt.Errorf("read the store: %w", err)
	}
	if len(existing) > 0 && !opts.Force {
		return st, fmt.Errorf("%w: it holds %d keys (first %s); import into an empty store, or give -force to overwrite the export's keys", ErrStoreNotEmpty, len(existing), existing[0].Key)
	}
	var ops []Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := kv.Txn(ctx, ops); err != nil {
			return fmt.Errorf("write %s…: %w", ops[0].Key, err)
		}
		st.Keys += len(ops)
		ops = ops[:0]
		return nil
	}
	for _, p := range pairs {
		op := Op{Verb: OpSet, Key: p.Key, Value: p.Value}
		if len(ops)+1 > MaxTxnOps || TxnSize(append(ops, op)) > MaxTxnSize {
			if err := flush(); err != nil {
				return st, err
			}
		}
		ops = append(ops, op)
	}
	return st, flush()
}
