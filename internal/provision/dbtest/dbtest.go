// Package dbtest is the conformance suite every provision.DBDriver passes
// (sqlite, MariaDB, PostgreSQL), run from each driver's own tests against
// a real server:
//
//	func TestConformance(t *testing.T) {
//		dbtest.Run(t, &dbtest.Harness{Kind: servicekind.MariaDB, Driver: d, Open: ..., ...})
//	}
//
// It checks the behaviour the back end relies on whatever the engine: a
// site's database and user are created, hold binary data, dump and load
// (replacing what was there, and into another site's database for a
// clone), are set aside and put back (DBSetAside), change password, and drop leaving nothing, twice; names that are
// not NameFor's are refused with domain.ErrInvalid before the server sees
// them; a database that exists is never taken over; the failures the back
// end reports by code are dberr's; and the driver agrees with its kind's
// servicekind descriptor. What only one engine has (MariaDB's SHOW
// DATABASES, PostgreSQL's SCRAM verifiers, SQLite's WAL) is checked
// through the Harness's hooks or in the driver's own tests.
//
// The suite names its databases s_aaaaaaaaaaaaaaaaaaa<digit>, one digit
// per scenario, so scenarios run in parallel on one server and Census can
// leave them out.
package dbtest

import (
	"database/sql"
	"fmt"
	"testing"

	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// Prefix starts the name of every database the suite creates.
const Prefix = "s_aaaaaaaaaaaaaaaaaaa"

// Harness is one driver under test and what the suite needs to look at
// its server from outside the driver.
type Harness struct {
	Kind servicekind.Kind
	// Driver holds the admin credentials. Required.
	Driver provision.DBDriver
	// Open connects as the site's own user (c.User, c.Password) to its
	// own database, as the site would. Required.
	Open func(t *testing.T, c provision.DBCreds) *sql.DB
	// Dialect is the engine's SQL for the suite's table. Required.
	Dialect Dialect
	// Census describes the server's databases and users whose names do
	// not start with Prefix, to show that refused calls created nothing.
	// Required.
	Census func(t *testing.T) string
	// Leftovers describes what remains of c's database and user on the
	// server; "" when nothing. Required.
	Leftovers func(t *testing.T, c provision.DBCreds) string
	// WithAdminPassword returns a driver on the same server logged in
	// with password; nil for a kind without admin credentials.
	WithAdminPassword func(t *testing.T, password string) provision.DBDriver
	// DefaultPort, when set, builds a driver for a service with no port
	// (without connecting) so the suite can check that it answers on its
	// descriptor's DefaultPort; nil for a kind without a server.
	DefaultPort func(t *testing.T) provision.DBDriver
	// FromSettings builds a driver for a service with the harness's
	// settings overridden by settings (without connecting) and returns
	// its error, so the suite can check that the driver refuses what the
	// descriptor's Validate refuses. Required.
	FromSettings func(t *testing.T, settings map[string]string) error
	// Passwords is false when the engine has no users (sqlite): Create
	// over an existing database then succeeds (a retried install) instead
	// of dberr.ErrExists, and passwords are not checked.
	Passwords bool
	// OddPassword is a password full of quotes and separators that Create
	// must take as it is. Default: one of ASCII quotes and SQL.
	OddPassword string
	// BadNames are more database names the engine must refuse, beyond the
	// suite's own.
	BadNames []string

	// Hooks for what only this engine has; each may be nil.

	// Isolated checks, after Create, that site cannot reach other.
	Isolated func(t *testing.T, site, other provision.DBCreds)
	// CheckDump checks a dump of the suite's table.
	CheckDump func(t *testing.T, dump string)
	// AfterLoad runs after a dump is loaded into site.
	AfterLoad func(t *testing.T, site provision.DBCreds)
	// PasswordHidden checks that c's password is not stored in clear.
	PasswordHidden func(t *testing.T, c provision.DBCreds)
}

// Dialect is the engine's SQL for the suite's tables.
type Dialect struct {
	// CreateHits creates table hits (id: auto-increment primary key, path:
	// text, body: binary).
	CreateHits string
	// InsertHit inserts one row into hits with two placeholders: path and
	// body.
	InsertHit string
	// Fill adds 2,000 rows of 1,000 bytes to a new table, for Size; empty
	// when the driver is not a provision.DBSizer.
	Fill []string
	// EmptySize is true when an empty database measures 0 bytes.
	EmptySize bool
}

// Creds returns the credentials of the suite's database number n on d.
func Creds(d provision.DBDriver, n int, password string) provision.DBCreds {
	c := d.Locate(fmt.Sprintf("%s%d", Prefix, n))
	c.Password = password
	return c
}

// Exec runs statements on db, failing the test on the first error.
func Exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// Run runs the conformance scenarios as parallel subtests of t, each on
// its own databases.
func Run(t *testing.T, h *Harness) {
	t.Helper()
	t.Run("descriptor", func(t *testing.T) { t.Parallel(); testDescriptor(t, h) })
	t.Run("settings", func(t *testing.T) { t.Parallel(); testSettings(t, h.Kind, h.FromSettings) })
	t.Run("lifecycle", func(t *testing.T) { t.Parallel(); testLifecycle(t, h) })
	t.Run("crafted names", func(t *testing.T) { t.Parallel(); testCrafted(t, h) })
	t.Run("existing database", func(t *testing.T) { t.Parallel(); testExisting(t, h) })
	if h.Passwords {
		t.Run("odd password", func(t *testing.T) { t.Parallel(); testOddPassword(t, h) })
	}
	if _, ok := h.Driver.(provision.DBSizer); ok {
		t.Run("size", func(t *testing.T) { t.Parallel(); testSize(t, h) })
	}
	if _, ok := h.Driver.(provision.DBSetAside); ok {
		t.Run("set aside", func(t *testing.T) { t.Parallel(); testSetAside(t, h) })
	}
	if h.WithAdminPassword != nil {
		t.Run("wrong admin password", func(t *testing.T) { t.Parallel(); testWrongAdmin(t, h) })
	}
}
