// Package api is aegir's REST API under /api/v1 on Fiber v2: one of the two
// transports over internal/control, beside the HTML dashboard
// (dashboard/web), which mounts itself on this package's Fiber app
// (Config.Mount). Handlers decode a request, call internal/control with the
// request's user as the actor and encode the answer; the request and
// answer types are control's. The contract the CLI builds on is the
// OpenAPI document at /api/v1/openapi.json, generated from the route table
// in routes.go and the Go types of each request and response; a test walks
// the routes Fiber registered and checks them against the document in both
// directions, so the two cannot drift.
//
// # Requests
//
// Bodies are JSON objects decoded strictly: unknown fields are refused
// (400 unknown_field, naming the field), so a typo or a field the API does
// not let you set (status, password_hash) never passes silently; malformed
// or trailing JSON is 400 malformed_json; bodies over Config.BodyLimit are
// 413 too_large before any handler runs. Validation happens in
// internal/control, the domain and the store; a refused request writes
// nothing, which the tests check by comparing every key of the store
// before and after.
//
// Every change that needs work on a server goes through one store call that
// writes the entity and queues its task in the same transaction (create
// server → verify-server, platform → verify-platform, site → install, edit
// site → verify). Updates and deletes are check-and-set on the version the
// client read (body "version", or ?version= on DELETE): a stale one is 409
// conflict.
//
// # Authentication and access
//
// Every route but /health and /openapi.json needs "Authorization: Bearer
// <token>". The token is checked with store.Authenticate (hashes compared
// in constant time) and the user is put in the request's Locals; tokens are
// never logged or echoed, and POST /tokens and POST /notifications (a
// webhook's signing secret) are the only answers that carry a secret. The rules below are internal/control's, checked there once
// for the API and the dashboard alike; the route table also refuses
// admin-only routes to others before a body is read (requireAdmin*), with
// the same answer. Three roles:
//
//   - admin: everything.
//   - client user: the sites, tasks and backups of the clients listed in
//     their user (and GET of those clients), read access to platforms,
//     packages and releases, their own tokens and their own notification
//     subscriptions (to their clients' events only). Anything else that
//     exists answers 404 not_found exactly as if it did not, so nothing
//     leaks — a site of another client, its tasks, a server, a user. The
//     lists of admin-only collections (servers, services, users) answer 403
//     forbidden, and so do admin-only writes on things a client user can
//     see (creating clients or platforms, platform tasks). A duplicate
//     domain owned by another client's site is reported without that site's
//     id.
//   - queue user: only the routes marked queueToken in the route table,
//     starting and following queue passes (the Nomad queue jobs' token).
//     authenticated refuses every other route with 403 forbidden, before
//     its handler runs, so a route added later is closed to them unless it
//     says otherwise. Queue users have no clients and no password, so no
//     dashboard session.
//
// # Errors
//
// Every error is {"error": {"code", "message", "field"}} and comes out of
// one mapper (errors.go), which decides the status by identity, never by
// message text:
//
//	*domain.ValidationError, ErrInvalid   400 invalid (field set)
//	JSON syntax / not an object           400 malformed_json
//	unknown JSON field                    400 unknown_field
//	ErrUnauthorized                       401 unauthorized
//	ErrForbidden, admin-only list/write   403 forbidden
//	ErrNotFound, not visible to the user  404 not_found
//	ErrConflict, ErrBusy                  409 conflict
//	*domain.DuplicateError, ErrDuplicate  409 duplicate
//	*domain.TransitionError               409 illegal_transition
//	ErrTooLarge, body over the limit      413 too_large
//	store.ErrUnavailable (Consul away)    503 store_unavailable
//	locks.ErrUnavailable (Redis away)     503 bus_unavailable
//	missing log bus / secrets backend     503 unavailable
//	anything else                         500 internal
//
// 4xx messages are the domain's own, which quote only what the client sent
// (clipped) and ids, and say what to do. A 500 gets a fixed message naming
// a request id (also in X-Request-Id); its cause goes to the server log at
// error level, never to the client, so nothing internal — addresses, paths,
// a secrets backend's error — reaches it. 4xx are logged at debug.
// Credentials sent to PUT /services/{id}/credentials go straight to the
// CredentialWriter; validation messages about them never quote the value.
//
// # Health and status
//
// GET /health (public) reads the store through one shared check at most
// once a second and answers 503 unavailable when it cannot, for load
// balancers; the cause goes to the log once, when it starts and stops.
// GET /status (admins) runs every Config.StatusChecks, and the store's own
// check first, at once, each bounded by Config.StatusTimeout; a check
// that does not return in time, panics or answers an unknown state is
// reported down (status.go). The checks' messages go to admins only and
// are the components' own operator-facing errors: addresses, settings and
// policies, never a secret. The overview's System panel shows the same,
// reusing a round of checks up to 5s old so open dashboards do not each
// ask Vault and Nomad.
//
// # Live logs
//
// GET /tasks/{id}/log answers one JSON page ({"lines", "done", "next"}), or
// with ?follow=1 or Accept: text/event-stream a server-sent event stream:
// one event per line with the line's id in `id:`, resuming after
// Last-Event-ID (what browsers send on reconnect) or ?after=, and a final
// "end" event. The stream is written by Fiber's body stream writer after
// the handler returns, so everything it needs is copied out of the request
// first; it ends when the log ends, when a write fails (the client left) or
// when Shutdown cancels the server's base context. While a task has not
// started its log does not exist yet: the stream waits, sending comments as
// keep-alives, and ends at once if the task finished without a log.
package api
