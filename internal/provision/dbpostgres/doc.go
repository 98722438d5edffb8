// Package dbpostgres is the provision.DBDriver for PostgreSQL: one
// database per site, owned by a LOGIN role of the same name that has no
// other attribute, with CONNECT and TEMPORARY revoked from PUBLIC, so no
// other site's role can connect to it.
//
// # Nothing pasted
//
// Names pass an allow-list ([a-z][a-z0-9_]*, at most 63) and are still
// quoted by PostgreSQL's rules (double quotes, doubled). CREATE/ALTER ROLE
// cannot take bound parameters, so the password never goes into SQL at
// all: the driver computes the SCRAM-SHA-256 verifier (as libpq's
// PQencryptPasswordConn does) and sends that as an escaped E-string literal; lookups
// bind their values. SASLprep is the identity only for ASCII, so
// passwords must be ASCII without NUL (generated ones are base64url).
// Connection URLs are built with net/url.
//
// # Dump and load
//
// Dump runs pg_dump --format=plain --no-owner --no-privileges as the admin;
// Load drops and recreates the database, owned by the site's role, and runs
// psql --single-transaction ON_ERROR_STOP=1 with PGOPTIONS "-c role=<site
// role>", so every object the dump creates belongs to the site. A dump
// therefore loads into any site's database (clone). Credentials go through
// PGPASSWORD and friends in the child's environment, never argv. A dump
// that needs superuser (CREATE EXTENSION of an untrusted extension) fails
// to load; that is deliberate.
//
// # Drop
//
// Drop terminates the sessions on the database and of the role, drops the
// database WITH (FORCE) (13+), DROP OWNED BY the role in the admin database
// (objects it could create in public before 15) and drops the role.
//
// # Size
//
// Size (provision.DBSizer, the stats queue's db_bytes) is
// pg_database_size($1): the database's files on disk, measured when asked.
// A database that does not exist is domain.ErrNotFound.
//
// Errors: dberr.ErrUnreachable, dberr.ErrAuthFailed, dberr.ErrExists, as
// in dbmariadb.
//
// The driver passes internal/provision/dbtest; its settings, default port
// and Vault statements are in internal/servicekind's postgresql descriptor.
package dbpostgres
