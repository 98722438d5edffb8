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
// INTO a temp file beyond).
//
// SetAside (a restore keeping the live contents until it succeeds) gives
// a WAL database's file a second name, .<name>.aside-<key>.db, by a hard
// link, the directory synced: nothing is copied and the site keeps its
// database until Load replaces it. A database not in WAL mode is copied
// as Dump copies it, and synced.
//
// Load accepts exactly what Dump writes: it writes the stream to a temp
// file, checks it with PRAGMA quick_check (a stream that is not a sound
// SQLite database is refused and the database is left untouched), and
// then
//   - when the database does not exist, renames the temp file into place;
//   - when it exists and no other connection has it open, renames the
//     temp file over it (placeOver): it opens the database in exclusive
//     locking mode, which SQLite grants only while no other connection
//     has a WAL database open, checkpoints the WAL into the file and
//     truncates it, gives the temp file the database's mode and owner,
//     and renames it over the database while holding that lock. The old
//     file (whole, its WAL in it) stays under a holding name linked to it,
//     or goes. The empty -wal and the -shm no one uses are left: the next
//     connection builds a fresh WAL index for the new file, and closing
//     the exclusive connection neither checkpoints nor deletes the -wal
//     once its file has moved (SQLite compares the path's inode). The one
//     connection this cannot see is one opened before the lock that has
//     not read yet (SQLite takes no lock at open): it would read the old
//     file once the lock goes. A site opens its database for a request
//     and reads at once, so that window is the few microseconds between
//     the two;
//   - otherwise (a connection of the site's is open) copies the temp
//     file's pages into it with SQLite's online backup API in one write
//     transaction, after giving a linked holding name a copy of its own.
//     Renaming over a database a connection has open would be wrong: it
//     would keep writing to the old inode, and the old -wal file (named
//     after the path, not the inode) would be applied to the new file.
//     The backup API is atomic for every connection: they see the old
//     contents or the new.
//
// Neither the rename nor the page copy (synchronous=OFF) is synced: the
// caller syncs the database's filesystem before it reports success (a
// restore, clone or migrate), so the load shares one syncfs with the
// site's files. PutBack syncs what it does, as the held contents are
// removed right after it: it drops a holding name still linked to the
// database (nothing was loaded), renames the held file back when it can
// (as Load does), or copies its pages.
//
// Names (database and table) are allow-listed before use, identifiers are
// double-quoted anyway, and file paths are passed as bound parameters, so
// nothing user-controlled is pasted into SQL.
//
// The driver passes internal/provision/dbtest (without users or passwords:
// a second Create of an existing database succeeds, a retried install).
package dbsqlite
