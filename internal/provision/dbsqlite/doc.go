// Package dbsqlite is the DBDriver for SQLite, the embedded default: one
// database file per site at <dir>/<name>.db, opened with the pure-Go driver
// modernc.org/sqlite (no cgo).
//
// SQLite has no users or passwords: Create makes the file (mode 0640) and
// the "user" of DBCreds is nominal, SetPassword does nothing. Access is
// whatever the file system allows.
//
// Databases run in WAL mode so a site keeps reading while a backup runs.
//
// Dump format: not SQL text but a consistent binary copy of the database,
// taken in one read transaction (writers keep committing to the WAL while
// it runs, and the copy is a snapshot of one moment): the database file as
// it is when no WAL frames belong to the snapshot (copyAtRest: no
// checkpoint may write into the file while the transaction is open), else
// its pages read through SQLite (sqlite3_serialize up to 64 MiB, VACUUM
// INTO a temp file beyond). SetAside's held copy is taken the same way.
// Load accepts exactly that: it writes the stream to a temp file, checks it
// with PRAGMA quick_check (a stream that is not a sound SQLite database is
// refused and the database is left untouched), and then
//   - when the database does not exist, renames the temp file into place;
//   - when it exists, copies the temp file's pages into it with SQLite's
//     online backup API in one write transaction. Renaming over a live
//     database would be wrong: connections the site already holds would
//     keep writing to the old inode, and the old -wal file (named after the
//     path, not the inode) would be applied to the new file. The backup API
//     is atomic for every connection: they see the old contents or the new.
//     The copy runs with synchronous=OFF: the caller syncs the database's
//     filesystem before it reports success (a restore, clone or migrate),
//     so the load's two fsyncs (WAL commit, checkpoint) are one syncfs
//     shared with the site's files; PutBack still syncs its copy, as the
//     held contents are removed right after it.
//
// Names (database and table) are allow-listed before use, identifiers are
// double-quoted anyway, and file paths are passed as bound parameters, so
// nothing user-controlled is pasted into SQL.
//
// The driver passes internal/provision/dbtest (without users or passwords:
// a second Create of an existing database succeeds, a retried install).
package dbsqlite
