// Package web is the HTML dashboard (templates/, static/): one of the two
// transports over internal/control, beside the REST API (dashboard/api).
// It mounts itself on the API's Fiber app (Mount, called through
// api.Config.Mount by package dashboard), so both share one listener, one
// request id and one error mapper (api.MapError). Every read and write
// with access rules goes through internal/control with the session's user
// as the actor, the same calls the API makes; forms only parse fields and
// choose where to redirect.
//
// # Pages and routes
//
// Pages are server-rendered with html/template (contextual auto-escaping)
// into a pooled buffer; layout.html plus one file per page, parsed once at
// start. Assets (one CSS file, one small script, the logo) are embedded.
// Routes live outside /api/v1: pages at the root (/, /sites, /sites/{id},
// /platforms, /servers, /clients, /packages, /tasks, /users, /tokens,
// /notifications, /account, /login), assets under /static, and under /live the JSON and SSE
// the page script reads: /live/tasks/{id}, /live/tasks/{id}/log (the API's
// SSE log handler), /live/sites/{id} and /live/queues/{id}/passes/{pass}
// (admins: a running pass's progress). The /live routes run the API's own
// handlers with the session's user instead of a bearer token, so the access
// rules are the API's, byte for byte. Anything else outside /api/v1 is an
// HTML 404; /api/v1 misses stay JSON.
//
// Every form posts and redirects (303) to a page with a flash message, so
// everything works with JavaScript off; a refused form redirects back with
// the reason; the new-site form comes back filled with what was typed
// (backError). The script only follows task status and log tails (polling
// /live/tasks/{id}, EventSource on the log), ticks a running task's
// "Running for", follows running queue passes (polling /live/queues/...;
// "Run a pass now" only starts one), enables "type the name to confirm"
// buttons as the name is typed (the server checks the name again), and
// asks a plain yes or no before forms marked data-ask.
// Confirmation matches the risk: the site tasks that lose data (delete,
// restore: taskspec Form.Confirm) and deletes of platforms, servers,
// services, clients, users and backups need the name typed; disable and
// migrate (Form.Ask), which the opposite task undoes, ask yes or no.
//
// # Sessions, CSRF, logins
//
// Sessions are store records (store.Session, sessions/<SHA-256 of the
// secret>): the cookie carries only a random 256-bit secret. Logout, a
// password or role change (store.UpdateUser, in the same transaction), an
// admin's "End all sessions" on /users/<id>/sessions, "Log out everywhere"
// on /account/sessions and the user's deletion end them at once on every
// server. A session ends after Config.SessionIdle without a request (2h)
// and Config.SessionMax after login (12h); last-seen is written at most
// once a minute; expired records go when presented and by a sweep at most
// every 5 minutes. Each record also holds a stamp of the password hash and
// role, checked per request. Cookies are HttpOnly, SameSite=Lax, and Secure
// over TLS or with Config.SecureCookies. Every POST carries a CSRF token,
// an HMAC (under Config.SessionKey) of the session's id (before login: of
// a random pre-session cookie), and a POST whose Origin is another site is
// refused too. Redirect targets (next=, back=) are paths on this host
// checked as a browser would read them (redirect.go).
//
// Passwords are argon2id (m=19 MiB, t=2, p=1, 16-byte salt per hash, PHC
// string). A login by an unknown name verifies against a dummy hash, so it
// costs the same as a wrong password, and gets the same message. Failures
// are counted by a LoginLimiter per (address, account) pair, per account
// and per address, per 15 minutes: 5 failures of a pair refuse that
// account from that address; an account's failures beyond 3 and an
// address's beyond 20 delay each further try (1s doubling to 16s) but
// never refuse the right password, so nobody can lock an account's owner
// out from elsewhere. The address is the TCP peer, or, from a trusted
// proxy (Config.TrustedProxies), the right-most untrusted address of
// X-Forwarded-For (clientaddr.go). Counts live in memory by default, in
// Redis (RedisLimiter) when aegir server has Redis, so every server behind
// a load balancer counts the same failures; if Redis fails, each server
// falls back to counting in its memory.
//
// Headers on every dashboard response: a Content-Security-Policy allowing
// only this origin's script, style, images and connections, no inline
// script, form-action 'self', frame-ancestors 'none'; X-Content-Type-Options
// nosniff; Referrer-Policy same-origin; X-Frame-Options DENY. Pages are
// Cache-Control: no-store.
//
// # Access
//
// An admin sees everything. A client user sees their clients' sites, tasks
// and backups, the platforms and packages lists, their own tokens,
// notification subscriptions and account; admin-only pages and other clients' entities answer 404 (the
// API's rule: nothing about them leaks), and so do forms posted to them.
// The client-scope rule itself is internal/control's; the pages only
// choose 404 where the API says 403 (admin-only pages, retrying a platform
// task, a token for someone else).
//
// # Charts
//
// Inline SVG drawn in charts.go: tasks finished per hour by outcome and
// the queue backlog at the end of each hour over the last 24 hours, from
// the tasks created in that window plus those still active
// (store.TasksSince); the site statistics chart is an empty state until
// statistics are collected.
package web
