package dbmariadb

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dberr"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// Config configures a Driver. Factory fills it from the service.
type Config struct {
	// Host and Port say where the server answers over TCP. Host default
	// 127.0.0.1, Port default 3306.
	Host string
	Port int
	// Socket, when set, is the unix socket aegir connects through instead
	// of TCP (sites still get Host and Port from Locate).
	Socket string
	// AdminUser and AdminPassword are an account with ALL PRIVILEGES ...
	// WITH GRANT OPTION. Required.
	AdminUser, AdminPassword string
	// UserHosts, when set, are the host parts a site's account is
	// created with, whatever the context says (an operator who knows how
	// the server sees its web servers, e.g. behind NAT). Names and IP
	// addresses only: a wildcard ('%', '_') is refused, so no site's
	// account is open to every host. Default: DBCreds.ClientHosts, where
	// the site's web server connects from, else loopback only
	// ("localhost", "127.0.0.1", "::1").
	UserHosts []string
	// DumpBinary and ClientBinary default to mariadb-dump and mariadb
	// (mysqldump and mysql when those are missing).
	DumpBinary, ClientBinary string
	// ConnectTimeout bounds connecting. Default 5s.
	ConnectTimeout time.Duration
}

// Driver is the MariaDB (and MySQL) provision.DBDriver.
type Driver struct {
	cfg Config
	db  *sql.DB
	log *slog.Logger
}

var (
	_ provision.DBDriver = (*Driver)(nil)
	_ provision.DBSizer  = (*Driver)(nil)
)

// Factory is the provision.DBFactory for mariadb services. Settings:
// "host" (default the server's address), "socket", "user_hosts"
// (comma-separated; default where the site's web server connects from),
// "dump_binary",
// "client_binary"; port = the service's port (default 3306); admin holds
// "username" and "password".
var Factory provision.DBFactory = func(svc provision.ServiceInfo, srv provision.ServerInfo, admin map[string]string, _ provision.EnvInfo, log *slog.Logger) (provision.DBDriver, error) {
	cfg := Config{
		Host:          cmp.Or(svc.Settings["host"], srv.Address),
		Port:          svc.Port,
		Socket:        svc.Settings["socket"],
		AdminUser:     admin["username"],
		AdminPassword: admin["password"],
		DumpBinary:    svc.Settings["dump_binary"],
		ClientBinary:  svc.Settings["client_binary"],
	}
	if h := svc.Settings["user_hosts"]; h != "" {
		for _, p := range strings.Split(h, ",") {
			cfg.UserHosts = append(cfg.UserHosts, strings.TrimSpace(p))
		}
	}
	return New(cfg, log)
}

// New checks cfg and returns a driver. It does not connect yet.
func New(cfg Config, log *slog.Logger) (*Driver, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Host = cmp.Or(cfg.Host, "127.0.0.1")
	cfg.Port = cmp.Or(cfg.Port, 3306)
	cfg.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, 5*time.Second)
	if cfg.AdminUser == "" {
		return nil, domain.Invalid("admin", "mariadb admin credentials have no username: store them with `aegir server credentials`")
	}
	if strings.ContainsAny(cfg.Host, " \t\n/()@") {
		return nil, domain.Invalid("host", "%q is not a host name or address", domain.Clip(cfg.Host))
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, domain.Invalid("port", "%d is not a TCP port", cfg.Port)
	}
	if cfg.Socket != "" {
		if err := domain.ValidatePath("socket", cfg.Socket, nil); err != nil {
			return nil, err
		}
	}
	for _, h := range cfg.UserHosts {
		if err := validClientHost("user_hosts", h); err != nil {
			return nil, err
		}
	}
	for _, b := range []string{cfg.DumpBinary, cfg.ClientBinary} {
		if b != "" && strings.Contains(b, "/") {
			if err := domain.ValidatePath("binary", b, nil); err != nil {
				return nil, err
			}
		} else if b != "" {
			if err := domain.ValidateName("binary", b); err != nil {
				return nil, err
			}
		}
	}
	mc := mysql.NewConfig()
	mc.User = cfg.AdminUser
	mc.Passwd = cfg.AdminPassword
	if cfg.Socket != "" {
		mc.Net, mc.Addr = "unix", cfg.Socket
	} else {
		mc.Net, mc.Addr = "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	}
	mc.Timeout = cfg.ConnectTimeout
	mc.Params = map[string]string{"sql_mode": "'TRADITIONAL'"} // strict, backslash escapes on
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("mariadb: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	// Short-lived back ends: idle connections go soon, so a server's
	// graceful shutdown never waits on aegir.
	db.SetConnMaxIdleTime(time.Second)
	d := &Driver{cfg: cfg, db: db, log: log.With("component", "dbmariadb")}
	// The mysql package logs retries of dead idle connections to stderr,
	// which is the back end's JSON log stream: route them into slog.
	loggerOnce.Do(func() { mysql.SetLogger(mysqlLogger{d.log}) })
	return d, nil
}

var loggerOnce sync.Once

type mysqlLogger struct{ log *slog.Logger }

func (l mysqlLogger) Print(v ...any) {
	l.log.Debug("mysql driver: " + strings.TrimSpace(fmt.Sprint(v...)))
}

// Close closes the admin connection pool.
func (d *Driver) Close() error { return d.db.Close() }

// addr says where the admin connection goes, for messages.
func (d *Driver) addr() string {
	if d.cfg.Socket != "" {
		return d.cfg.Socket
	}
	return net.JoinHostPort(d.cfg.Host, strconv.Itoa(d.cfg.Port))
}

// Check connects with the admin credentials.
func (d *Driver) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*d.cfg.ConnectTimeout)
	defer cancel()
	var v string
	if err := d.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return d.classify("check", err)
	}
	d.log.Debug("mariadb answers", "addr", d.addr(), "version", v)
	return nil
}

// Locate returns where a database called name answers.
func (d *Driver) Locate(name string) provision.DBCreds {
	return provision.DBCreds{Name: name, User: name, Host: d.cfg.Host, Port: d.cfg.Port, Kind: string(servicekind.MariaDB)}
}

func checkCreds(db provision.DBCreds) error {
	if err := validIdent("database name", db.Name); err != nil {
		return err
	}
	return validIdent("database user", db.User)
}

// Create creates the database and an account per host the site connects
// from (Config.UserHosts, else db.ClientHosts, else loopback; never a
// wildcard) that holds ALL on that database only. The password is sent as its hash. An existing
// database is refused with dberr.ErrExists and left alone; on any other
// failure whatever was created is dropped again.
func (d *Driver) Create(ctx context.Context, db provision.DBCreds) error {
	if err := checkCreds(db); err != nil {
		return err
	}
	if db.Password == "" {
		return domain.Invalid("password", "is empty: generate one for the site's database user")
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.classify("create "+db.Name, err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db.Name).Scan(&n); err != nil {
		return d.classify("create "+db.Name, err)
	}
	if n > 0 {
		return &dberr.Error{Kind: dberr.ErrExists, Engine: "mariadb", Addr: d.addr(), Op: "create " + db.Name, Err: errors.New("database exists")}
	}
	hosts := d.cfg.UserHosts
	if len(hosts) == 0 {
		hosts = db.ClientHosts
	}
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"} // loopback only
	}
	for _, h := range hosts {
		if err := validClientHost("client_hosts", h); err != nil {
			return err
		}
	}
	hash := nativePasswordHash(db.Password)
	stmts := []string{"CREATE DATABASE " + quoteIdent(db.Name) + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"}
	for _, h := range hosts {
		acct := account(db.User, h)
		stmts = append(stmts,
			"CREATE OR REPLACE USER "+acct+" IDENTIFIED BY PASSWORD "+quoteString(hash),
			"GRANT ALL PRIVILEGES ON "+quoteGrantDB(db.Name)+".* TO "+acct)
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			cerr := d.classify("create "+db.Name, err)
			if dropErr := d.Drop(context.WithoutCancel(ctx), db); dropErr != nil {
				d.log.Error("undo failed create", "database", db.Name, "err", dropErr)
			}
			return cerr
		}
	}
	d.log.Info("database created", "database", db.Name, "user", db.User)
	return nil
}

// Drop ends the user's sessions, drops the database and every account of
// that user name. Missing ones are not errors.
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
	if err := d.killSessions(ctx, conn, db); err != nil {
		return d.classify(op, err)
	}
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(db.Name)); err != nil {
		return d.classify(op, err)
	}
	hosts, err := d.userHosts(ctx, conn, db.User)
	if err != nil {
		return d.classify(op, err)
	}
	for _, h := range hosts {
		if _, err := conn.ExecContext(ctx, "DROP USER IF EXISTS "+account(db.User, h)); err != nil {
			return d.classify(op, err)
		}
	}
	d.log.Info("database dropped", "database", db.Name, "user", db.User)
	return nil
}

// userHosts lists the host parts of every account named user.
func (d *Driver) userHosts(ctx context.Context, conn *sql.Conn, user string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT Host FROM mysql.user WHERE User = ?", user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hosts []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		if err := validHost(h); err != nil {
			d.log.Warn("account with an unusual host left alone", "user", user, "host", h)
			continue
		}
		hosts = append(hosts, h)
	}
	return hosts, rows.Err()
}

// killSessions ends connections of the site's user or on its database.
func (d *Driver) killSessions(ctx context.Context, conn *sql.Conn, db provision.DBCreds) error {
	rows, err := conn.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE (USER = ? OR DB = ?) AND ID <> CONNECTION_ID()", db.User, db.Name)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		// Unknown thread: it ended meanwhile.
		conn.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatInt(id, 10))
	}
	return rows.Err()
}

// SetPassword changes the password of every account of the user.
func (d *Driver) SetPassword(ctx context.Context, db provision.DBCreds, password string) error {
	if err := checkCreds(db); err != nil {
		return err
	}
	if password == "" {
		return domain.Invalid("password", "is empty")
	}
	op := "set password of " + db.User
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.classify(op, err)
	}
	defer conn.Close()
	hosts, err := d.userHosts(ctx, conn, db.User)
	if err != nil {
		return d.classify(op, err)
	}
	if len(hosts) == 0 {
		return fmt.Errorf("%s: no such user on mariadb at %s: %w", op, d.addr(), domain.ErrNotFound)
	}
	hash := quoteString(nativePasswordHash(password))
	for _, h := range hosts {
		if _, err := conn.ExecContext(ctx, "SET PASSWORD FOR "+account(db.User, h)+" = "+hash); err != nil {
			return d.classify(op, err)
		}
	}
	return nil
}

// Count returns the number of rows in a table of the database.
func (d *Driver) Count(ctx context.Context, db provision.DBCreds, table string) (int64, error) {
	if err := validIdent("database name", db.Name); err != nil {
		return 0, err
	}
	if err := validTable(table); err != nil {
		return 0, err
	}
	var n int64
	err := d.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteIdent(db.Name)+"."+quoteIdent(table)).Scan(&n)
	if err != nil {
		return 0, d.classify("count "+db.Name+"."+table, err)
	}
	return n, nil
}

// Size returns the bytes the database's tables and their indexes take, as
// information_schema.TABLES reports them (data_length + index_length; 0
// for a database without tables). For InnoDB these are the figures of its
// persistent statistics, which the server refreshes in the background once
// about a tenth of a table has changed (or on ANALYZE TABLE), so they lag
// recent writes. A database that does not exist is domain.ErrNotFound.
func (d *Driver) Size(ctx context.Context, db provision.DBCreds) (int64, error) {
	if err := validIdent("database name", db.Name); err != nil {
		return 0, err
	}
	var exists, n int64
	err := d.db.QueryRowContext(ctx, "SELECT "+
		"(SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?), "+
		"(SELECT CAST(COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS SIGNED) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?)",
		db.Name, db.Name).Scan(&exists, &n)
	if err != nil {
		return 0, d.classify("size of "+db.Name, err)
	}
	if exists == 0 {
		return 0, fmt.Errorf("size of %s: mariadb at %s has no such database; restore the site from a backup, or delete it: %w",
			db.Name, d.addr(), domain.ErrNotFound)
	}
	return n, nil
}

// classify wraps connection failures as dberr.ErrUnreachable and refused
// credentials as dberr.ErrAuthFailed.
func (d *Driver) classify(op string, err error) error {
	kind := errorKind(err)
	if kind == nil {
		return fmt.Errorf("%s on mariadb at %s: %w", op, d.addr(), err)
	}
	return &dberr.Error{Kind: kind, Engine: "mariadb", Addr: d.addr(), Op: op, Err: err}
}

func errorKind(err error) error {
	var ce *clientError
	if errors.As(err, &ce) {
		return ce.kind
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1045, 1698: // ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR
			return dberr.ErrAuthFailed
		case 1040, 1129, 1130: // too many connections, host blocked, host not allowed
			return dberr.ErrUnreachable
		}
		return nil
	}
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &oe), errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.DeadlineExceeded):
		return dberr.ErrUnreachable
	}
	return nil
}

// Errors that classify maps for the client programs' messages.
var (
	errAuth = &clientError{"access denied", dberr.ErrAuthFailed}
	errConn = &clientError{"cannot connect", dberr.ErrUnreachable}
)

type clientError struct {
	msg  string
	kind error
}

func (e *clientError) Error() string { return e.msg }
func (e *clientError) Unwrap() error { return e.kind }
