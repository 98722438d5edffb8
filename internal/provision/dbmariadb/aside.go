package dbmariadb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/aegirhq/aegir/internal/provision"
)

var _ provision.DBSetAside = (*Driver)(nil)

// createDB is how Load and PutBack create a site's database.
const createDB = " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"

// asideName is the schema db's tables are held in for key: db's name, "_a"
// and key (see provision.ValidAsideKey), at most 64 characters.
func asideName(db provision.DBCreds, key string) (string, error) {
	if err := validIdent("database name", db.Name); err != nil {
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

// SetAside moves every table of the database into a new holding schema
// with one RENAME TABLE (atomic, and it moves no data: InnoDB renames the
// files), after ending the site's sessions. Views, triggers, routines,
// events and sequences cannot be moved so: a database holding any is
// refused with provision.ErrSetAsideUnsupported, before anything changes.
// An existing holding schema (left by a killed run of the same task) is
// refused too: it may be the only copy of the site's data.
func (d *Driver) SetAside(ctx context.Context, db provision.DBCreds, key string) error {
	hold, err := asideName(db, key)
	if err != nil {
		return err
	}
	op := "set aside " + db.Name
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.classify(op, err)
	}
	defer conn.Close()
	if err := d.killSessions(ctx, conn, db); err != nil {
		return d.classify(op, err)
	}
	var others int
	if err := conn.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'BASE TABLE') +
		(SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?) +
		(SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) +
		(SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?)`,
		db.Name, db.Name, db.Name, db.Name).Scan(&others); err != nil {
		return d.classify(op, err)
	}
	if others > 0 {
		return fmt.Errorf("%s: %d views, triggers, routines, events or sequences: %w", op, others, provision.ErrSetAsideUnsupported)
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(hold)+createDB); err != nil {
		return d.classify(op, err)
	}
	if err := moveTables(ctx, conn, db.Name, hold); err != nil {
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+quoteIdent(hold)); derr != nil {
			d.log.Error("undo set aside: the empty holding schema stays", "database", hold, "err", derr)
		}
		return d.classify(op, err)
	}
	d.log.Info("database set aside", "database", db.Name, "held_as", hold)
	return nil
}

// PutBack drops the database (whatever Load put in it), creates it again
// and moves the held tables back into it, then drops the holding schema.
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
	defer conn.Close()
	if err := d.killSessions(ctx, conn, db); err != nil {
		return d.classify(op, err)
	}
	for _, s := range []string{
		"DROP DATABASE IF EXISTS " + quoteIdent(db.Name),
		"CREATE DATABASE " + quoteIdent(db.Name) + createDB,
	} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return d.classify(op, err)
		}
	}
	if err := moveTables(ctx, conn, hold, db.Name); err != nil {
		return d.classify(op, err)
	}
	if _, err := conn.ExecContext(ctx, "DROP DATABASE "+quoteIdent(hold)); err != nil {
		return d.classify(op, err)
	}
	d.log.Info("database put back", "database", db.Name, "held_as", hold)
	return nil
}

// DropAside drops the holding schema.
func (d *Driver) DropAside(ctx context.Context, db provision.DBCreds, key string) error {
	hold, err := asideName(db, key)
	if err != nil {
		return err
	}
	if _, err := d.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(hold)); err != nil {
		return d.classify("drop the held copy of "+db.Name, err)
	}
	return nil
}

// moveTables moves every base table of schema from to schema to in one
// RENAME TABLE statement: all of them or none.
func moveTables(ctx context.Context, conn *sql.Conn, from, to string) error {
	rows, err := conn.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", from)
	if err != nil {
		return err
	}
	var pairs []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		pairs = append(pairs, quoteIdent(from)+"."+quoteIdent(t)+" TO "+quoteIdent(to)+"."+quoteIdent(t))
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(pairs) == 0 {
		return err
	}
	_, err = conn.ExecContext(ctx, "RENAME TABLE "+strings.Join(pairs, ", "))
	return err
}
