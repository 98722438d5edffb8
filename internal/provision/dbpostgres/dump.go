package dbpostgres

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dberr"
	"github.com/aegirhq/aegir/internal/provision/dbpipe"
)

// Dump streams a plain SQL dump of the database to w: pg_dump (one
// consistent snapshot) as the admin, without owners or privileges, so Load
// can put it into any site's database (clone). Credentials go through the
// environment (PGPASSWORD ...), never the command line.
func (d *Driver) Dump(ctx context.Context, db provision.DBCreds, w io.Writer) error {
	if err := validIdent("database name", db.Name); err != nil {
		return err
	}
	return d.runClient(ctx, "dump "+db.Name, "pg_dump", []string{
		"--format=plain", "--no-owner", "--no-privileges", "--encoding=UTF8",
		"--no-password", "--dbname=" + db.Name,
	}, nil, nil, w)
}

// Load replaces the database's contents with a dump read from r: the
// database is dropped and created again empty, owned by the site's role,
// then psql runs the dump in one transaction as the admin with its role
// set to the site's (PGOPTIONS "-c role=..."), so every object it creates
// belongs to the site.
func (d *Driver) Load(ctx context.Context, db provision.DBCreds, r io.Reader) error {
	if err := checkCreds(db); err != nil {
		return err
	}
	op := "load " + db.Name
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.classify(op, err)
	}
	err = d.dropDatabase(ctx, conn, db)
	if err == nil {
		_, err = conn.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(db.Name)+" OWNER "+quoteIdent(db.User)+" ENCODING 'UTF8' TEMPLATE template0")
	}
	if err == nil {
		_, err = conn.ExecContext(ctx, "REVOKE ALL ON DATABASE "+quoteIdent(db.Name)+" FROM PUBLIC")
	}
	conn.Close()
	if err != nil {
		return d.classify(op, err)
	}
	return d.runClient(ctx, op, "psql", []string{
		"--no-psqlrc", "--quiet", "--no-password", "--single-transaction",
		"--set=ON_ERROR_STOP=1", "--dbname=" + db.Name, "--file=-",
	}, []string{"PGOPTIONS=-c role=" + db.User}, r, io.Discard)
}

// runClient runs pg_dump or psql with the admin connection in the
// environment, stdin from in and stdout to out.
func (d *Driver) runClient(ctx context.Context, op, name string, args, env []string, in io.Reader, out io.Writer) error {
	bin, err := d.binary(name)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr tailBuffer
	cmd.Stderr = &stderr
	host := d.cfg.Host
	if d.cfg.SocketDir != "" {
		host = d.cfg.SocketDir
	}
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"LANG=C",
		"PGHOST=" + host,
		"PGPORT=" + strconv.Itoa(d.cfg.Port),
		"PGUSER=" + d.cfg.AdminUser,
		"PGPASSWORD=" + d.cfg.AdminPassword,
		"PGSSLMODE=" + d.cfg.SSLMode,
		"PGCONNECT_TIMEOUT=" + strconv.Itoa(max(1, int(d.cfg.ConnectTimeout.Seconds()))),
		"PGAPPNAME=aegir",
	}, env...)
	// Through 1 MiB pipes: a dump beside a backup's compression stalled
	// on the default 64 KiB one (dbpipe).
	if err := dbpipe.Run(cmd, in, out); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if kind := clientErrorKind(msg); kind != nil {
			return d.classify(op, &clientError{msg: filepath.Base(bin) + ": " + msg, kind: kind})
		}
		return fmt.Errorf("%s on postgresql at %s: %s failed: %v: %s", op, d.addr(), filepath.Base(bin), err, msg)
	}
	return nil
}

func clientErrorKind(msg string) error {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "password authentication failed"), strings.Contains(m, "no password supplied"),
		strings.Contains(m, "role \"") && strings.Contains(m, "does not exist") && strings.Contains(m, "connection"):
		return dberr.ErrAuthFailed
	case strings.Contains(m, "connection refused"), strings.Contains(m, "could not connect"),
		strings.Contains(m, "timeout expired"), strings.Contains(m, "no such file or directory") && strings.Contains(m, "socket"),
		strings.Contains(m, "the database system is shutting down"), strings.Contains(m, "the database system is starting up"):
		return dberr.ErrUnreachable
	}
	return nil
}

// binary finds pg_dump or psql in BinDir, else on PATH.
func (d *Driver) binary(name string) (string, error) {
	if d.cfg.BinDir != "" {
		return filepath.Join(d.cfg.BinDir, name), nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: install the postgresql-client package or set the service's bin_dir", name)
	}
	return p, nil
}

// tailBuffer keeps the last 16 KiB written to it.
type tailBuffer struct{ bytes.Buffer }

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.Buffer.Write(p)
	if b.Len() > 16<<10 {
		keep := append([]byte(nil), b.Bytes()[b.Len()-16<<10:]...)
		b.Reset()
		b.Buffer.Write(keep)
	}
	return n, nil
}
