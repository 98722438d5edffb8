// Package platform knows the platform types a site can run on: how to
// recognise each one on disk, where a site's docroot and settings live,
// how settings are rendered, what installs a site, runs its cron and
// measures it, and how packages are found. It does no database or web
// work and runs no commands; the provision tasks do.
//
// # Types
//
// Each platform type is a Type, in its own file, listed once in
// registry.go:
//
//	static  static.go  P/public/ is the template docroot; each site gets its own copy in S/public.
//	php     php.go     P/aegir.hcl (manifest.go) declares docroot, hooks, env, an nginx snippet
//	                   (nginxsnippet.go), database = false and an expect check; docroot
//	                   P/<docroot>, settings S/settings.json.
//	drupal  drupal.go  P/index.php and P/core/lib/Drupal.php (8+) or P/includes/bootstrap.inc (7);
//	                   docroot P, settings S/settings.php, drush for install and cron, or,
//	                   without drush, aegir's own installer (drupal_installer.go): an
//	                   embedded PHP script run with php -r calling install_drupal() and
//	                   Drupal's cron API, its settings JSON data after --, never code.
//
// (platform path P, site domain D, site dir S = P/sites/D.) Lookup finds a
// type by name, Types lists them for forms and help, Detect recognises a
// directory. A *Platform from Open forwards its questions to its Type, so
// nothing outside this package switches on the platform type;
// TestNoPlatformTypeSwitches walks the repository and fails if something
// does.
//
// Adding a type: a new file implementing Type, an entry in registry.go's
// list, and its name beside the others in internal/domain/platform.go.
//
// # Why the names also live in internal/domain
//
// domain.Platform.Validate must refuse an unknown type wherever a platform
// is validated: in the store, which sits below the back end and must not
// import it, and in tests and binaries that link no back end at all. The
// domain cannot import this package (it imports domain), and handing it
// the names at start-up (a setter called from an init, or a list threaded
// through the store's config to every Validate) would make validation
// depend on an import side effect or widen every caller. So the domain
// keeps what it already had, the names, as the vocabulary it validates
// against (domain.PlatformTypes), and all behaviour lives here.
// TestRegistryMatchesDomain fails when the two lists differ, so a type
// cannot be added to one and not the other.
//
// The CLI lists the types from domain.PlatformTypes too: importing this
// package would link HCL and cty into a REST client for the sake of three
// names.
package platform
