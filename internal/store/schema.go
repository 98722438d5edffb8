package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// SchemaVersion is the version of the record formats this aegir reads and
// writes: every record in a store is of the store's one schema, kept in
// meta/schema with the release that wrote it. A release that changes a
// record so that an older one would misread it raises SchemaVersion (and
// brings the migration); a binary refuses a store whose schema is newer
// than its own (ErrSchemaTooNew) instead of misreading it or writing
// records the newer servers cannot read.
//
// During a rolling upgrade the servers announce their schema and release
// to each other (internal/app/peers.go) and a newer one does not lead
// while an older one is live, so the oldest release writes the records
// of a mixed cluster. Not yet: migrations between schemas.
const SchemaVersion = 1

const keySchema = "meta/schema"

// Schema is the store's meta/schema record.
type Schema struct {
	// Version is the schema of every record in the store.
	Version int `json:"version"`
	// WrittenBy is the aegir release that wrote this record.
	WrittenBy string `json:"written_by,omitempty"`
}

// ErrSchemaTooNew means the store was written by a newer aegir, in a
// schema this one cannot read.
var ErrSchemaTooNew = errors.New("the store's schema is newer than this aegir reads")

// checkSchema returns an error wrapping ErrSchemaTooNew when sc is newer
// than SchemaVersion.
func checkSchema(sc Schema, release string) error {
	if sc.Version > SchemaVersion {
		return fmt.Errorf("%w: its records are schema %d (written by aegir %s) and this aegir (%s) reads schema %d: run the newer aegir release here too",
			ErrSchemaTooNew, sc.Version, sc.WrittenBy, release, SchemaVersion)
	}
	if sc.Version < 1 {
		return fmt.Errorf("meta/schema holds schema version %d: the store is damaged", sc.Version)
	}
	return nil
}

// EnsureSchema checks the store's schema: a store without one (new, or
// written before schemas were recorded, which is schema 1) gets
// SchemaVersion written by release; a store of a newer schema is refused
// with ErrSchemaTooNew. It returns the store's schema.
func (s *Store) EnsureSchema(ctx context.Context, release string) (*Schema, error) {
	for range 3 {
		p, err := s.kv.Get(ctx, keySchema)
		if errors.Is(err, ErrKeyNotFound) {
			sc := Schema{Version: SchemaVersion, WrittenBy: release}
			b, err := json.Marshal(sc)
			if err != nil {
				return nil, err
			}
			if _, err := s.kv.Txn(ctx, []Op{{Verb: OpCAS, Key: keySchema, Value: b}}); errors.Is(err, ErrCASFailed) {
				continue // another server wrote it first: read theirs
			} else if err != nil {
				return nil, fmt.Errorf("record the store's schema: %w", err)
			}
			return &sc, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read the store's schema: %w", err)
		}
		var sc Schema
		if err := json.Unmarshal(p.Value, &sc); err != nil {
			return nil, fmt.Errorf("meta/schema is not a schema record: %w", err)
		}
		if err := checkSchema(sc, release); err != nil {
			return nil, err
		}
		return &sc, nil
	}
	return nil, errors.New("meta/schema kept changing while it was read")
}
