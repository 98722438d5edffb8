package provision

// sitePool is who the site's own php-fpm pool runs as, for web drivers
// that write one (nginx with php_pool_dir): the site's user and group,
// with the site's directory and the platform as what PHP may read. nil
// when the site has no user of its own (no site users on w, or a task
// that found none): the site then uses the service's shared php_fastcgi.
// Tasks that did not look up the owner (enable, disable) find the user
// here without creating it.
func (j *job) sitePool(loc siteLoc, w *webConn) *SitePool {
	if !loc.Plat.PHP() {
		return nil
	}
	var su *SiteUser
	switch {
	case loc.Owner != nil:
		u := loc.Owner.user
		su = &u
	case j.siteUsers(w):
		found, err := lookupSiteUser(loc.Domain)
		if err != nil {
			j.log.Warn("site user not usable for its php-fpm pool", "domain", loc.Domain, "err", err)
			return nil
		}
		su = found
	}
	if su == nil {
		return nil
	}
	sp := &SitePool{User: su.Name, Group: su.Name, UID: su.UID, GID: su.GID, SiteDir: loc.Dir, PlatformDir: loc.Plat.Path}
	if loc.PHP != nil {
		sp.MemoryLimitMB, sp.UploadMaxMB, sp.MaxChildren = loc.PHP.MemoryLimit, loc.PHP.UploadMax, loc.PHP.MaxChildren
	}
	return sp
}
