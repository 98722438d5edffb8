// Package archive writes and reads aegir's site archives: one zstd-
// compressed tar of a site's files (files/...), its database dump
// (database.sql, or database.sql.part-NNNNNN parts joined in order) and a
// manifest (manifest.json, always the last entry) listing every entry with
// its type, size and content checksum.
//
// Two checks guard a restore. The archive as a whole has the sha256 the
// writer took of every compressed byte (Info.SHA256, recorded with the
// backup): a reader given it proves the file is the backup that was
// taken. Each entry's checksum in the manifest proves what was unpacked
// is what the writer read. The manifest's format says which checksum that
// is (entrysum.go): sha256 in Format1, XXH64 in Format2, the default
// since the per-entry sha256 was a sixth of a backup's CPU. Readers take
// both formats; releases before Format2 refuse it, so which one a backup
// is written in is the dispatching server's choice (provision.EnvInfo.
// ArchiveFormat, format 1 when the context names none).
//
// Writing is concurrent (frames.go: independent zstd frames compressed in
// parallel; readfiles.go: small files read and checksummed ahead of the
// tar writer; stream.go: a database dump added in parts between the files
// as it is read), with memory bounded by free lists of buffers reused
// within one archive (freelist.go). Reading is one pass (reader.go walk):
// every name is checked (nothing outside files/ and the database entries,
// nothing under a symlink, no entry twice) before anything is written.
// Extract decompresses on one goroutine (readahead.go) while its reader
// parses the tar and writers create the small files (filewriters.go): one
// writer per directory, so creations never wait on a directory's lock in
// the kernel, with the queued files' memory bounded (slabs.go).
package archive
