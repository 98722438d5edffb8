package dbpostgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aegirhq/aegir/internal/provision"
)

var _ provision.DBSetAside = (*Driver)(nil)

// asideName is the name db's contents are held under for key: db's name,
// "_a" and key, which must be 1 to 24 characters of [0-9a-z] (a task id
// is 20), so the name stays a valid identifier of at most 63 bytes.
func asideName(db provision.DBCreds, key string) (string, error) {
	if err := checkCreds(db); err != nil {
		return "", err
	}
	if err := provision.ValidAsideKey(key); err != nil {
		return "", err
	}
	name := db.Name + "_a" + key
	if err := validIdent("held database name", name); err != nil {
		return "", err
	}
	return name, nil
}

// SetAside renames the database to its holding name (ALTER DATABASE ...
// RENAME, which moves no data), after ending the sessions on it. Load
// then creates db again.
func (d *Driver) SetAside(ctx context.Context, db provision.DBCreds, key string) error {
	hold, err := asideName(db, key)
	if err != nil {
		return err
	}
	return d.rename(ctx, "set aside "+db.Name, db.Name, hold)
}

// PutBack drops db (with whatever Load put in it) and renames the held
// database back to db's name.
func (d *Driver) PutBack(ctx context.Context, db provision.DBCreds, key string) error {
	hold, err := asideName(db, key)
	if err != nil {
		return err
	}
	op := "put back " + db.Name
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.classify(op, err)
	}
	err = d.dropDatabase(ctx, conn, provision.DBCreds{Name: db.Name})
	conn.Close()
	if err != nil {
		return d.classify(op, err)
	}
	return d.rename(ctx, op, hold, db.Name)
}

// DropAside drops the held database.
func (d *Driver) DropAside(ctx context.Context, db provision.DBCreds, key string) error {
	hold, err := asideName(db, key)
	if err != nil {
		return err
	}
	op := "drop the held copy of " + db.Name
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.classify(op, err)
	}
	defer conn.Close()
	if err := d.dropDatabase(ctx, conn, provision.DBCreds{Name: hold}); err != nil {
		return d.classify(op, err)
	}
	return nil
}

// rename ends the sessions on database from and renames it to. A session
// that connects between the two makes the rename fail (object in use):
// it is retried for a few seconds.
func (d *Driver) rename(ctx context.Context, op, from, to string) error {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.classify(op, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = conn.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", from)
		if err == nil {
			_, err = conn.ExecContext(ctx, "ALTER DATABASE "+quoteIdent(from)+" RENAME TO "+quoteIdent(to))
		}
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55006" || time.Now().After(deadline) { // object_in_use
			break
		}
		select {
		case <-ctx.Done():
			return d.classify(op, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return d.classify(op, err)
	}
	d.log.Info("database renamed", "from", from, "to", to)
	return nil
}
