package dbpostgres

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dberr"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// Config configures a Driver. Factory fills it from the service.
type Config struct {
	// Host and Port say where the server answers over TCP. Host default
	// 127.0.0.1, Port default 5432.
	Host string
	Port int
	// SocketDir, when set, is the directory of the server's unix socket,
	// which aegir connects through instead of TCP.
	SocketDir string
	// AdminUser and AdminPassword are a superuser (CREATE DATABASE ...
	// OWNER a new role needs membership in it). Required.
	AdminUser, AdminPassword string
	// AdminDatabase is where the admin connects. Default "postgres".
	AdminDatabase string
	// SSLMode is libpq's sslmode. Default "prefer".
	SSLMode string
	// BinDir holds pg_dump and psql. Default: PATH.
	BinDir string
	// ConnectTimeout bounds connecting. Default 5s.
	ConnectTimeout time.Duration
}

// Driver is the PostgreSQL provision.DBDriver.
type Driver struct {
	cfg Config
	db  *sql.DB
	log *slog.Logger
}

var (
	_ provision.DBDriver = (*Driver)(nil)
	_ provision.DBSizer  = (*Driver)(nil)
)

// Factory is the provision.DBFactory for postgresql services. Settings:
// "host" (default the server's address), "socket_dir", "admin_database",
// "sslmode", "bin_dir"; port = the service's port (default 5432); admin
// holds "username" and "password".
var Factory provision.DBFactory = func(svc provision.ServiceInfo, srv provision.ServerInfo, admin map[string]string, _ provision.EnvInfo, log *slog.Logger) (provision.DBDriver, error) {
	return New(Config{
		Host:          cmp.Or(svc.Settings["host"], srv.Address),
		Port:          svc.Port,
		SocketDir:     svc.Settings["socket_dir"],
		AdminUser:     admin["username"],
		AdminPassword: admin["password"],
		AdminDatabase: svc.Settings["admin_database"],
		SSLMode:       svc.Settings["sslmode"],
		BinDir:        svc.Settings["bin_dir"],
	}, log)
}

var sslModes = map[string]bool{"disable": true, "allow": true, "prefer": true, "require": true, "verify-ca": true, "verify-full": true}

// New checks cfg and returns a driver. It does not connect yet.
func New(cfg Config, log *slog.Logger) (*Driver, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Host = cmp.Or(cfg.Host, "127.0.0.1")
	cfg.Port = cmp.Or(cfg.Port, 5432)
	cfg.AdminDatabase = cmp.Or(cfg.AdminDatabase, "postgres")
	cfg.SSLMode = cmp.Or(cfg.SSLMode, "prefer")
	cfg.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, 5*time.Second)
	if cfg.AdminUser == "" {
		return nil, domain.Invalid("admin", "postgresql admin credentials have no username: store them with `aegir server credentials`")
	}
	if strings.ContainsAny(cfg.Host, " \t\n/@'\"\\") {
		return nil, domain.Invalid("host", "%q is not a host name or address", domain.Clip(cfg.Host))
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, domain.Invalid("port", "%d is not a TCP port", cfg.Port)
	}
	if !sslModes[cfg.SSLMode] {
		return nil, domain.Invalid("sslmode", "%q is not one of disable, allow, prefer, require, verify-ca, verify-full", domain.Clip(cfg.SSLMode))
	}
	for field, p := range map[string]string{"socket_dir": cfg.SocketDir, "bin_dir": cfg.BinDir} {
		if p != "" {
			if err := domain.ValidatePath(field, p, nil); err != nil {
				return nil, err
			}
		}
	}
	if err := validIdent("admin_database", cfg.AdminDatabase); err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, log: log.With("component", "dbpostgres")}
	db, err := d.open(cfg.AdminDatabase)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	d.db = db
	return d, nil
}

// open returns a pool of admin connections to database.
func (d *Driver) open(database string) (*sql.DB, error) {
	pc, err := pgx.ParseConfig(d.connURL(database))
	if err != nil {
		return nil, fmt.Errorf("postgresql connection settings: %w", err)
	}
	db := stdlib.OpenDB(*pc)
	db.SetMaxIdleConns(2)
	// Short-lived back ends: idle connections go soon, so a server's
	// graceful shutdown never waits on aegir.
	db.SetConnMaxIdleTime(time.Second)
	return db, nil
}

// connURL builds a postgres:// URL with net/url doing the escaping of
// user, password and database.
func (d *Driver) connURL(database string) string {
	q := url.Values{}
	q.Set("sslmode", d.cfg.SSLMode)
	q.Set("connect_timeout", strconv.Itoa(max(1, int(d.cfg.ConnectTimeout.Seconds()))))
	q.Set("application_name", "aegir")
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(d.cfg.AdminUser, d.cfg.AdminPassword),
		Host:   net.JoinHostPort(d.cfg.Host, strconv.Itoa(d.cfg.Port)),
		Path:   "/" + database,
	}
	if d.cfg.SocketDir != "" {
		u.Host = ""
		q.Set("host", d.cfg.SocketDir)
		q.Set("port", strconv.Itoa(d.cfg.Port))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Close closes the admin connection pool.
func (d *Driver) Close() error { return d.db.Close() }

func (d *Driver) addr() string {
	if d.cfg.SocketDir != "" {
		return d.cfg.SocketDir + "/.s.PGSQL." + strconv.Itoa(d.cfg.Port)
	}
	return net.JoinHostPort(d.cfg.Host, strconv.Itoa(d.cfg.Port))
}

// Check connects with the admin credentials.
func (d *Driver) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*d.cfg.ConnectTimeout)
	defer cancel()
	var v string
	if err := d.db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
		return d.classify("check", err)
	}
	d.log.Debug("postgresql answers", "addr", d.addr(), "version", v)
	return nil
}

// Locate returns where a database called name answers.
func (d *Driver) Locate(name string) provision.DBCreds {
	return provision.DBCreds{Name: name, User: name, Host: d.cfg.Host, Port: d.cfg.Port, Kind: string(servicekind.PostgreSQL)}
}

func checkCreds(db provision.DBCreds) error {
	if err := validIdent("database name", db.Name); err != nil {
		return err
	}
	return validIdent("database user", db.User)
}

// roleAttrs are the only attributes a site's role has.
const roleAttrs = " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD "

// Create creates a LOGIN role and a database it owns, and revokes CONNECT
// and TEMPORARY on it from PUBLIC, so only the role (and superusers) can
// reach it. An existing database is refused with dberr.ErrExists; a
// leftover role of the same name is reset. On any other failure whatever
// was created is dropped again.
func (d *Driver) Create(ctx context.Context, db provision.DBCreds) error {
	if err := checkCreds(db); err != nil {
		return err
	}
	if err := checkPassword(db.Password); err != nil {
		return err
	}
	verifier, err := scramVerifier(db.Password)
	if err != nil {
		return err
	}
	op := "create " + db.Name
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.classify(op, err)
	}
	defer conn.Close()
	var dbExists, roleExists bool
	err = conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2)",
		db.Name, db.User).Scan(&dbExists, &roleExists)
	if err != nil {
		return d.classify(op, err)
	}
	if dbExists {
		return &dberr.Error{Kind: dberr.ErrExists, Engine: "postgresql", Addr: d.addr(), Op: op, Err: errors.New("database exists")}
	}
	role := "CREATE ROLE " + quoteIdent(db.User) + roleAttrs + quoteLiteral(verifier)
	if roleExists {
		role = "ALTER ROLE " + quoteIdent(db.User) + roleAttrs + quoteLiteral(verifier)
	}
	stmts := []string{
		role,
		"CREATE DATABASE " + quoteIdent(db.Name) + " OWNER " + quoteIdent(db.User) + " ENCODING 'UTF8' TEMPLATE template0",
		"REVOKE ALL ON DATABASE " + quoteIdent(db.Name) + " FROM PUBLIC",
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			cerr := d.classify(op, err)
			if derr := d.Drop(context.WithoutCancel(ctx), db); derr != nil {
				d.log.Error("undo failed create", "database", db.Name, "err", derr)
			}
			return cerr
		}
	}
	d.log.Info("database created", "database", db.Name, "user", db.User)
	return nil
}

// Drop terminates the sessions on the database and of the role, drops the
// database, whatever the role owns in the admin database, and the role.
// Missing ones are not errors.
func (d *Driver) Drop(ctx context.Context, db provision.DBCreds) error {
	if err := checkCreds(db); err != nil {
		return err
	}
	op := "drop " + db.Name
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.classify(op, err)
	}
	defer conn.Close()
	if err := d.dropDatabase(ctx, conn, db); err != nil {
		return d.classify(op, err)
	}
	var roleExists bool
	if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", db.User).Scan(&roleExists); err != nil {
		return d.classify(op, err)
	}
	if roleExists {
		for _, s := range []string{
			// Objects the role made where PUBLIC may create (the public
			// schema of the admin database before PostgreSQL 15).
			"DROP OWNED BY " + quoteIdent(db.User),
			"DROP ROLE IF EXISTS " + quoteIdent(db.User),
		} {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				return d.classify(op, err)
			}
		}
	}
	d.log.Info("database dropped", "database", db.Name, "user", db.User)
	return nil
}

// dropDatabase ends every session on the database or of its role and drops
// it (WITH (FORCE) where the server has it, 13+).
func (d *Driver) dropDatabase(ctx context.Context, conn *sql.Conn, db provision.DBCreds) error {
	if _, err := conn.ExecContext(ctx,
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE (datname = $1 OR usename = $2) AND pid <> pg_backend_pid()",
		db.Name, db.User); err != nil {
		return err
	}
	var version int
	if err := conn.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return err
	}
	stmt := "DROP DATABASE IF EXISTS " + quoteIdent(db.Name)
	if version >= 130000 {
		stmt += " WITH (FORCE)"
	}
	_, err := conn.ExecContext(ctx, stmt)
	return err
}

// SetPassword changes the role's password.
func (d *Driver) SetPassword(ctx context.Context, db provision.DBCreds, password string) error {
	if err := checkCreds(db); err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return err
	}
	op := "set password of " + db.User
	var exists bool
	if err := d.db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", db.User).Scan(&exists); err != nil {
		return d.classify(op, err)
	}
	if !exists {
		return fmt.Errorf("%s: no such role on postgresql at %s: %w", op, d.addr(), domain.ErrNotFound)
	}
	if _, err := d.db.ExecContext(ctx, "ALTER ROLE "+quoteIdent(db.User)+" PASSWORD "+quoteLiteral(verifier)); err != nil {
		return d.classify(op, err)
	}
	return nil
}

// Count returns the number of rows in a table of the database (found on
// the search path, normally the public schema).
func (d *Driver) Count(ctx context.Context, db provision.DBCreds, table string) (int64, error) {
	if err := validIdent("database name", db.Name); err != nil {
		return 0, err
	}
	if err := validIdent("table", strings.ToLower(table)); err != nil {
		return 0, err
	}
	op := "count " + db.Name + "." + table
	pool, err := d.open(db.Name)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	var n int64
	if err := pool.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(table)).Scan(&n); err != nil {
		return 0, d.classify(op, err)
	}
	return n, nil
}

// Size returns pg_database_size of the database: the bytes of every file
// of it on disk (tables, indexes, TOAST, free space maps), measured now. A
// database that does not exist is domain.ErrNotFound.
func (d *Driver) Size(ctx context.Context, db provision.DBCreds) (int64, error) {
	if err := validIdent("database name", db.Name); err != nil {
		return 0, err
	}
	var n int64
	err := d.db.QueryRowContext(ctx, "SELECT pg_database_size($1::name)", db.Name).Scan(&n)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "3D000" { // invalid_catalog_name
		return 0, fmt.Errorf("size of %s: postgresql at %s has no such database; restore the site from a backup, or delete it: %w",
			db.Name, d.addr(), domain.ErrNotFound)
	}
	if err != nil {
		return 0, d.classify("size of "+db.Name, err)
	}
	return n, nil
}

// classify wraps connection failures as dberr.ErrUnreachable and refused
// credentials as dberr.ErrAuthFailed.
func (d *Driver) classify(op string, err error) error {
	kind := errorKind(err)
	if kind == nil {
		return fmt.Errorf("%s on postgresql at %s: %w", op, d.addr(), err)
	}
	return &dberr.Error{Kind: kind, Engine: "postgresql", Addr: d.addr(), Op: op, Err: err}
}

func errorKind(err error) error {
	var ce *clientError
	if errors.As(err, &ce) {
		return ce.kind
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification
			return dberr.ErrAuthFailed
		case "57P01", "57P02", "57P03", "53300": // admin/crash shutdown, cannot connect now, too many connections
			return dberr.ErrUnreachable
		}
		return nil
	}
	var connErr *pgconn.ConnectError
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &connErr), errors.As(err, &oe), errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, context.DeadlineExceeded):
		return dberr.ErrUnreachable
	}
	return nil
}

// clientError marks a pg_dump/psql failure recognised from its message.
type clientError struct {
	msg  string
	kind error
}

func (e *clientError) Error() string { return e.msg }
func (e *clientError) Unwrap() error { return e.kind }
