// Package dbmariadb is the provision.DBDriver for MariaDB (and MySQL):
// one database per site and an account of the same name that holds ALL
// on that database and nothing else.
//
// # Nothing pasted
//
// Database, user and table names pass an allow-list ([a-z][a-z0-9_]*, at
// most 64, tables may be upper case) and are still quoted by MariaDB's
// rules (backticks, doubled). In GRANT ... ON `db`.* the LIKE wildcards '_'
// and '%' are escaped too, or s_abc would also cover sXabc. Passwords never
// appear in SQL text: accounts are created with IDENTIFIED BY PASSWORD
// '<mysql_native_password hash>' computed here, so a password reaches
// neither the processlist nor a server log; lookups bind their values as
// parameters.
//
// # Dump and load
//
// Dump runs mariadb-dump --single-transaction --quick (a consistent
// snapshot, streamed, without locking InnoDB tables) and Load the mariadb
// client, with argv and the admin credentials in a 0600 --defaults-file in
// the temp dir that is removed afterwards, never on the command line. Dumps
// carry no CREATE DATABASE/USE, so Load can put one into another site's
// database (clone). Load drops and recreates the database first, so the
// result is exactly the dump; db-level grants survive that by name.
//
// # Size
//
// Size (provision.DBSizer, the stats queue's db_bytes) sums data_length +
// index_length of the database's tables in information_schema.TABLES, the
// name bound as a parameter. For InnoDB those are its persistent
// statistics, refreshed in the background after about a tenth of a table
// changed, so the figure lags recent writes; it costs no table scan.
//
// # Errors
//
// Connection failures wrap dberr.ErrUnreachable and refused admin
// credentials dberr.ErrAuthFailed (error codes db_unreachable and
// db_auth_failed); Create over an existing database is dberr.ErrExists and
// leaves it alone. A Create that fails half-way drops what it made.
//
// The driver passes internal/provision/dbtest; its settings, default port
// and Vault statements are in internal/servicekind's mariadb descriptor.
package dbmariadb
