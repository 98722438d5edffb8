// Package sitetree walks a site's directory as root without following
// anything the site's owner can change.
//
// The back end runs as root, and a site's files belong to its tenant, who
// can rename, delete and replace any of them at any moment, also while a
// backup, clone, migrate, verify or stats walk reads them. A walk that
// checks an entry with lstat and then opens it by path (os.Open,
// os.ReadDir, filepath.WalkDir's descent) follows whatever is at that
// path when it is opened: a directory swapped for a symlink to /etc
// between the two calls puts root-only files in the tenant's backup or
// clone.
//
// The model: every entry is reached from an open file descriptor of its
// parent directory, never by path.
//
//   - The walked directory is opened once with O_NOFOLLOW|O_DIRECTORY;
//     its path is the only one resolved, and it belongs to aegir, not to
//     the tenant (a platform's sites directory).
//   - Each directory's names are listed from its descriptor and each name
//     is lstat'ed with fstatat(AT_SYMLINK_NOFOLLOW) relative to it.
//   - A subdirectory is opened with openat(parent, name,
//     O_NOFOLLOW|O_DIRECTORY); a regular file with openat(parent, name,
//     O_NOFOLLOW|O_NONBLOCK). O_NOFOLLOW refuses a name that has become
//     a symlink; fstat of what was opened must then show the device and
//     inode that were listed (and a directory or a regular file as
//     listed), so a name renamed over by another directory or file of the
//     tenant's is refused too.
//   - A symlink is read with readlinkat(parent, name) and reported as a
//     link: a link is a name whose target is never opened.
//
// When what is opened is not what was listed, the walk stops with an
// error wrapping ErrChanged (the site changed while it was read; run the
// task again), as a file that vanished mid-walk always did. Nothing read
// through a swapped name is ever passed on.
//
// Hard links are not links to follow: a hard link is the file itself, and
// the kernel's fs.protected_hardlinks (1 on Debian and most distributions)
// stops a tenant from making one to a file they cannot read and write.
//
// Descriptors are held only for the directories on the path from the top
// to the entry being visited, so a walk holds as many as the tree is deep.
package sitetree
