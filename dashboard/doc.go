// Package dashboard assembles aegir's HTTP server: the REST API
// (dashboard/api, under /api/v1) and the HTML dashboard (dashboard/web,
// everything else), two thin transports over one service layer
// (internal/control), on one Fiber app and one listener.
//
//	HTTP ──► dashboard/api ──┐
//	    └──► dashboard/web ──┴──► internal/control ──► internal/store
//	         (mounted on the API's app)   actor, client scope, validation,
//	                                       one store call per write
//
// New builds the service layer, the API on it, and mounts the dashboard
// through api.Config.Mount; Config is both packages' settings in one
// value. The names a process and the CLI use (Server, Config, StatusCheck,
// SystemStatus, LoginLimiter, ...) stay here as aliases of the packages
// that define them.
//
// The HTTP scenario tests of both transports live here, against the
// assembled server: a request is answered exactly as in production, API
// and pages together. See dashboard/api's documentation for the API's
// contract (requests, access, errors, live logs) and dashboard/web's for
// the pages (sessions, CSRF, logins).
package dashboard
