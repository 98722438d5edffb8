package provision

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aegirhq/aegir/internal/atomicfile"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/sitetree"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// Site users: the privilege model is in doc.go ("Who runs as what").

// SiteUser is a site's own Unix user and group on its web server, as a
// task created or found it (domain.UnixUser, reported in the result).
type SiteUser = domain.UnixUser

// ErrSiteUser is wrapped by every error about a site's Unix user: a name
// that cannot be derived, or a user of that name that aegir did not make.
var ErrSiteUser = errors.New("site user")

const (
	siteUserPrefix = "ae-"
	siteUserDomain = 20 // bytes of the domain kept in the name
	siteUserHash   = 8  // hex digits of sha256(domain)
	defaultWebGrp  = "www-data"
	nologin        = "/usr/sbin/nologin"
)

// SiteUserName derives the Unix user (and group) name of the site at
// domain: "ae-", the domain's first 20 bytes with every byte outside
// [a-z0-9] made '-', '-', and the first 8 hex digits of the domain's
// sha256. At most 32 bytes; two domains that read alike ("a.b" and "a-b",
// or two long ones sharing their first 20 bytes) still get different
// names from the hash.
func SiteUserName(domainName string) (string, error) {
	if domainName == "" {
		return "", fmt.Errorf("%w: no domain to derive a user name from", ErrSiteUser)
	}
	var b strings.Builder
	b.WriteString(siteUserPrefix)
	for i := 0; i < len(domainName) && i < siteUserDomain; i++ {
		c := domainName[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			b.WriteByte('-')
		}
	}
	sum := sha256.Sum256([]byte(domainName))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:])[:siteUserHash])
	name := b.String()
	if err := servicekind.UnixName(name); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSiteUser, err)
	}
	return name, nil
}

// siteUserComment is the GECOS field aegir gives a site's user: how it
// recognises its own users and refuses to take over anyone else's.
func siteUserComment(domainName string) string { return "aegir site " + domainName }

// owner is who a site's files belong to on its web server: nil when
// aegir changes no owners (the back end is not root, or the web service
// has no site users, e.g. builtin under aegir dev).
type owner struct {
	user     SiteUser
	webGroup string
	webGID   int
	// ownPool: PHP sites on this web service run in pools of their own,
	// as their users (php_pool_dir is set), so nothing of the web
	// group's writes into a site and files/ is not group-writable.
	ownPool bool
}

// ownPools reports whether PHP sites on w get their own php-fpm pools
// where they have users (the nginx driver writes one when php_pool_dir
// is set).
func ownPools(w *webConn) bool { return w.svc.Settings["php_pool_dir"] != "" }

// setOwner records o as who owns the site's files and, with it, who the
// platform's commands for the site (install, hooks, cron, stats) run as:
// the site's user and group, with the web group as a supplementary group
// so that platform code the operator gave the web server stays readable.
// A nil o (no site users) leaves them running as aegir.
func (loc *siteLoc) setOwner(o *owner) {
	loc.Owner = o
	loc.Cred = nil
	if o != nil {
		loc.Cred = &syscall.Credential{Uid: uint32(o.user.UID), Gid: uint32(o.user.GID), Groups: []uint32{uint32(o.webGID)}}
	}
}

// siteUsers reports whether sites on w get their own Unix users: the back
// end runs as root and w's kind declares servicekind.SiteUsers.
func (j *job) siteUsers(w *webConn) bool {
	return os.Geteuid() == 0 && describe(w.svc.Kind).Has(servicekind.SiteUsers)
}

// webGroup resolves the web service's web_group setting (default
// www-data).
func (j *job) webGroup(w *webConn) (string, int, error) {
	name := cmp.Or(w.svc.Settings["web_group"], defaultWebGrp)
	if err := servicekind.UnixName(name); err != nil {
		return "", 0, failf(CodeContextInvalid, "Set the web service's web_group to the group its workers run as.", err,
			"The web group of %s is not a valid group name", w.String())
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return "", 0, failf(CodeSiteUserFailed,
			fmt.Sprintf("Set the web service's web_group to the group nginx and php-fpm run as (%s is missing on %s).", name, w.srv.Name), err,
			"The web group %s of %s does not exist", name, w.String())
	}
	gid, _ := strconv.Atoi(g.Gid)
	return name, gid, nil
}

// lookupSiteUser finds the site's user. It returns (nil, nil) when there
// is none, and an error wrapping ErrSiteUser when a user or group of that
// name exists that aegir did not make for this domain.
func lookupSiteUser(domainName string) (*SiteUser, error) {
	name, err := SiteUserName(domainName)
	if err != nil {
		return nil, err
	}
	u, uerr := user.Lookup(name)
	g, gerr := user.LookupGroup(name)
	var unknownUser user.UnknownUserError
	var unknownGroup user.UnknownGroupError
	switch {
	case uerr != nil && !errors.As(uerr, &unknownUser):
		return nil, uerr
	case gerr != nil && !errors.As(gerr, &unknownGroup):
		return nil, gerr
	case uerr != nil && gerr != nil:
		return nil, nil
	case uerr != nil:
		return nil, fmt.Errorf("%w: a group %s exists without its user; aegir did not make it and will not take it over", ErrSiteUser, name)
	case u.Name != siteUserComment(domainName):
		return nil, fmt.Errorf("%w: a user %s exists (%q) that aegir did not make for %s; it will not take it over", ErrSiteUser, name, u.Name, domainName)
	case gerr != nil || u.Gid != g.Gid:
		return nil, fmt.Errorf("%w: the user %s has no group of its own name", ErrSiteUser, name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	return &SiteUser{Name: name, UID: uid, GID: gid}, nil
}

func siteUserFailure(err error, domainName string) error {
	name, _ := SiteUserName(domainName)
	return failf(CodeSiteUserFailed,
		fmt.Sprintf("Remove or rename the user or group %s if nothing needs it (userdel, groupdel), or use another domain; nothing was changed for the site.", cmp.Or(name, "derived from the domain")),
		err, "The Unix user of %s cannot be used", domainName)
}

// checkSiteUser fails, before anything is created, when the site's user
// name cannot be derived or belongs to someone else.
func (j *job) checkSiteUser(w *webConn, domainName string) error {
	if !j.siteUsers(w) {
		return nil
	}
	if _, _, err := j.webGroup(w); err != nil {
		return err
	}
	if _, err := lookupSiteUser(domainName); err != nil {
		return siteUserFailure(err, domainName)
	}
	return nil
}

// siteOwner returns who owns the site at domainName on w, creating its
// user and group (useradd --user-group, argv, never a shell) when they do not
// exist; nil when aegir changes no owners on w. When it created them and
// u is not nil, an undo step removes them; created users are reported
// in the result.
func (j *job) siteOwner(ctx context.Context, w *webConn, dir, domainName string, u *undo) (*owner, error) {
	if !j.siteUsers(w) {
		return nil, nil
	}
	grp, gid, err := j.webGroup(w)
	if err != nil {
		return nil, err
	}
	su, err := lookupSiteUser(domainName)
	if err != nil {
		return nil, siteUserFailure(err, domainName)
	}
	if su == nil {
		name, _ := SiteUserName(domainName)
		// One useradd makes the user and its own group of the same name
		// (--user-group), or neither: one command less on every install.
		if err := j.runIDCommand(ctx, "useradd", "--system", "--no-create-home", "--shell", nologin,
			"--user-group", "--home-dir", dir, "--comment", siteUserComment(domainName), name); err != nil {
			return nil, err
		}
		if u != nil {
			u.push("remove Unix user "+name, func(ctx context.Context) error { return j.removeSiteUser(ctx, domainName) })
		}
		if su, err = lookupSiteUser(domainName); err != nil || su == nil {
			return nil, siteUserFailure(cmp.Or(err, errors.New("useradd succeeded but the user is not there")), domainName)
		}
		j.log.Info("site user created", "user", su.Name, "uid", su.UID, "gid", su.GID)
	}
	return &owner{user: *su, webGroup: grp, webGID: gid, ownPool: ownPools(w)}, nil
}

// removeSiteUser removes the site's user and group; already gone is done,
// and a user aegir did not make is left alone (with an error).
func (j *job) removeSiteUser(ctx context.Context, domainName string) error {
	su, err := lookupSiteUser(domainName)
	if err != nil {
		return err
	}
	if su == nil {
		return nil
	}
	// The site's php-fpm pool is gone by now, but a graceful reload lets
	// its workers finish their requests, and userdel refuses a user who
	// still runs a process. Those processes are the deleted site's own:
	// they get SIGTERM, then SIGKILL, before userdel is tried again.
	if err := j.runIDCommand(ctx, "userdel", su.Name); err != nil {
		if n := endUserProcesses(ctx, su.UID, userProcessGrace); n > 0 {
			j.log.Info("ended the site user's remaining processes", "user", su.Name, "processes", n)
		}
		if err := j.runIDCommand(ctx, "userdel", su.Name); err != nil {
			return err
		}
	}
	if _, err := user.LookupGroup(su.Name); err == nil { // userdel removes it only under USERGROUPS_ENAB
		if err := j.runIDCommand(ctx, "groupdel", su.Name); err != nil {
			return err
		}
	}
	j.log.Info("site user removed", "user", su.Name)
	return nil
}

// userProcessGrace is how long a deleted site's remaining processes get
// between SIGTERM and SIGKILL.
const userProcessGrace = 5 * time.Second

// endUserProcesses ends every process whose real or effective uid is uid
// (never root's): SIGTERM, up to grace for them to exit, then SIGKILL. It
// returns how many it signalled.
func endUserProcesses(ctx context.Context, uid int, grace time.Duration) int {
	if uid <= 0 {
		return 0
	}
	pids := userProcesses(uid)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for len(userProcesses(uid)) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	for _, pid := range userProcesses(uid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline = time.Now().Add(time.Second)
	for len(userProcesses(uid)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return len(pids)
}

// userProcesses lists the live (not zombie) pids whose real or effective
// uid is uid, from /proc/<pid>/status ("Uid: real effective saved fs").
func userProcesses(uid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := strconv.Itoa(uid)
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var zombie, mine bool
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "State:":
				zombie = f[1] == "Z" || f[1] == "X" // exited, waiting for its parent
			case len(f) >= 3 && f[0] == "Uid:":
				mine = f[1] == want || f[2] == want
			}
		}
		if mine && !zombie {
			out = append(out, pid)
		}
	}
	return out
}

func (j *job) runIDCommand(ctx context.Context, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin", "LANG=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return failf(CodeSiteUserFailed, "Check that the shadow tools (useradd, groupadd) are installed and /etc/passwd is writable.",
			fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out))), "%s failed", strings.Join(argv, " "))
	}
	return nil
}

// Modes of what aegir makes in a site directory when it owns it for a
// site user: the directory and files/ are the site's, the web group may
// enter and read; files/ is setgid, so what PHP writes keeps the group.
// With per-site pools (owner.ownPool) PHP writes as the site's user and
// files/ is 2750; without them PHP runs in the web group's shared pool
// and files/ is writable by the group too (2770). Go's setgid bit is
// os.ModeSetgid, not 02000 (which os.Chmod drops).
const (
	siteDirMode     = 0o750
	filesDirMode    = os.ModeSetgid | 0o750
	sharedFilesMode = os.ModeSetgid | 0o770
	settingsMode    = 0o640
	plainSiteMode   = 0o755 // the site directory when aegir owns nothing
)

// ownSite gives the site directory (and, when whole, everything under
// it) to the site's user and the web group, and the directory its mode:
// after install, restore, clone and migrate (whole), and verify. Entries
// are changed with lchown through an os.Root of dir while sitetree lists
// them, so no link is followed. With o nil (no site users) only the
// directory's mode is put back to what install gave it.
func (j *job) ownSite(ctx context.Context, o *owner, dir string, whole bool) error {
	if o == nil {
		return os.Chmod(dir, plainSiteMode)
	}
	uid, gid := o.user.UID, o.webGID
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if whole {
		err = sitetree.Walk(ctx, dir, func(e *sitetree.Entry) error { return root.Lchown(e.Rel, uid, gid) })
		if err != nil {
			return fmt.Errorf("give %s to %s: %w", dir, o.user.Name, err)
		}
	}
	if err := root.Lchown(".", uid, gid); err != nil {
		return err
	}
	if err := root.Chmod(".", siteDirMode); err != nil {
		return err
	}
	if fi, err := root.Lstat("files"); err == nil && fi.IsDir() {
		if err := root.Lchown("files", uid, gid); err != nil {
			return err
		}
		mode := filesDirMode
		if !o.ownPool {
			mode = sharedFilesMode
		}
		if err := root.Chmod("files", mode); err != nil {
			return err
		}
	}
	return nil
}

// writeOwned writes a site's settings file, 0640 on every write: owned
// by the site's user and the web group when o is set; otherwise, as root,
// by whoever owned the file it replaces (a task that does not look up
// the site's user, such as rotate-credentials, changes no owner).
func writeOwned(file string, b []byte, o *owner) error {
	uid, gid := -1, -1
	switch {
	case o != nil:
		uid, gid = o.user.UID, o.webGID
	case os.Geteuid() == 0:
		if fi, err := os.Lstat(file); err == nil && fi.Mode().IsRegular() {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				uid, gid = int(st.Uid), int(st.Gid)
			}
		}
	}
	return atomicfile.WriteOwned(file, b, settingsMode, uid, gid)
}

func ownFailed(err error, dir string) error {
	return failf(CodeFilesFailed, "Check the disk and that aegir runs as root on the web server.", err,
		"The owner of the site directory %s could not be set", dir)
}

// keepOwner finds (or makes again) the site's user and gives it the site
// directory back, all of it when whole (restore, migrate), and records it
// in loc and the result: verify, restore and migrate keep a site's user.
func (j *job) keepOwner(ctx context.Context, w *webConn, loc *siteLoc, whole bool) error {
	o, err := j.siteOwner(ctx, w, loc.Dir, loc.Domain, nil)
	if err != nil {
		return err
	}
	loc.setOwner(o)
	if err := j.ownSite(ctx, o, loc.Dir, whole); err != nil {
		return ownFailed(err, loc.Dir)
	}
	j.reportSiteUser(o)
	return nil
}

// asSite makes the commands of a task that leaves the site's owner as it
// is (cron, stats, delete's pre-delete hook) run as the site's user and
// group, with the web group as a supplementary group, like install's: it
// looks the user up, never creates it, and records it on loc. Where sites
// have no users it does nothing. A user that is gone is ErrSiteUserGone
// (a site_user_failed failure): a platform's command for a site never
// runs as root where sites have users of their own.
func (j *job) asSite(w *webConn, loc *siteLoc) error {
	if !j.siteUsers(w) {
		return nil
	}
	grp, gid, err := j.webGroup(w)
	if err != nil {
		return err
	}
	su, err := lookupSiteUser(loc.Domain)
	if err != nil {
		return siteUserFailure(err, loc.Domain)
	}
	if su == nil {
		name, _ := SiteUserName(loc.Domain)
		return failf(CodeSiteUserFailed, "Run verify on the site, which makes its user again, then run this task again.", ErrSiteUserGone,
			"The Unix user %s of %s is missing, and a platform's commands for a site never run as root", name, loc.Domain)
	}
	loc.setOwner(&owner{user: *su, webGroup: grp, webGID: gid, ownPool: ownPools(w)})
	return nil
}

// ErrSiteUserGone: the site's Unix user is missing where sites have them.
var ErrSiteUserGone = errors.New("the site's Unix user is missing")

// platformUser is who a platform's own command (the packages hook of
// verify-platform, which belongs to no site) runs as when the back end is
// root and sites on the platform's web service (svc) have users: nobody,
// with the web group as its group, so it reads what the web server reads,
// writes nothing of anyone's and is never root. nil where sites have no
// users, or no web service is named (it then runs as aegir, as before).
func (j *job) platformUser(svc *ServiceInfo) (*syscall.Credential, error) {
	if os.Geteuid() != 0 || svc == nil || !describe(svc.Kind).Has(servicekind.SiteUsers) {
		return nil, nil
	}
	u, err := user.Lookup(platformUserName)
	if err != nil {
		return nil, failf(CodeSiteUserFailed, "Create the user nobody (Debian's base system has it), or run aegir's back end as a user other than root.", err,
			"A platform's own commands run as %s, which is missing", platformUserName)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if uid <= 0 {
		return nil, failf(CodeSiteUserFailed, "Give the user nobody its own uid, never 0.", nil, "The user %s is root", platformUserName)
	}
	name := cmp.Or(svc.Settings["web_group"], defaultWebGrp)
	g, err := user.LookupGroup(name)
	if err != nil || servicekind.UnixName(name) != nil {
		return nil, failf(CodeSiteUserFailed, "Set the web service's web_group to the group nginx and php-fpm run as.", err,
			"The web group %q of the platform's web service is not a group", domain.Clip(name))
	}
	gid, _ := strconv.Atoi(g.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// platformUserName is the user of platformUser.
const platformUserName = "nobody"

func (j *job) reportSiteUser(o *owner) {
	if o != nil {
		su := o.user
		j.res.Changes.SiteUser = &su
	}
}
