// Package routing publishes every enabled site in Consul's catalog, in the
// conventions off-the-shelf routers read, so a stock Traefik (its Consul
// Catalog provider) sends each domain to the web server that hosts it.
//
// # What is published
//
// Each aegir web server is a catalog node, "aegir-<server name>", with the
// server's Address and a stable node ID derived from the server id
// (Traefik keys health by node ID + service ID; two nodes without IDs would
// mix up the health of one site's two instances during a move). Each
// enabled site is one instance of the service "aegir-site" on its web
// server's node: ID "aegir-site-<site id>", Address/Port of the server's
// http service, meta {site_id, domain, platform, client, server}, and tags:
//
//	aegir
//	traefik.enable=true
//	traefik.http.routers.aegir-<id>.rule=Host(`example.com`) || Host(`www.example.com`)
//	traefik.http.routers.aegir-<id>.service=aegir-<id>
//	traefik.http.services.aegir-<id>.loadbalancer.passhostheader=true
//
// A site whose aliases redirect to its domain gets a second router,
// aegir-<id>-alias, matching the aliases, with a redirectregex middleware
// answering 301 to the same URL on the main domain. Router names are
// "aegir-" + the site id (lowercase base32, checked); every domain is
// validated again (NormalizeDomain, then a plain [a-z0-9.-] allow-list)
// before it goes into a rule. Every router points at its own service, named
// like it, never at the provider's default (the catalog service name, which
// all sites share).
//
// # Health checks: catalog checks that aegir keeps itself
//
// Instances are registered through the catalog API on nodes that have no
// Consul agent (Consul's "external services" pattern), so no agent runs
// their checks. The reconciler does, like consul-esm: every CheckInterval
// it requests CheckPath from each instance's address with the site's Host
// header, and writes the check "service:<service id>" with the status
// (2xx/3xx passing, 429 warning, anything else critical) when it changes.
// A passing instance turns critical after FailuresBeforeCritical failures
// in a row. Traefik's default strictChecks route passing and warning
// instances only.
//
// Why not agent checks: they need a Consul agent on every web server and
// aegir to know each agent's address, and a site's instance would live and
// die with that agent. The catalog route needs only the Consul the
// dispatcher already talks to, works with web servers that run no Consul
// at all, and keeps one writer for everything aegir publishes. The price is
// that the dispatcher's process does the probing: one small GET per site
// per interval, at most Concurrency at a time, and one catalog write per
// status change (not per check).
//
// # Disabled sites are removed
//
// A disabled site's instance is deregistered, not kept pointing at a
// maintenance answer. The web server already answers a disabled site with
// a 503 page; keeping the instance would make its health check fail (503)
// and Traefik drop it anyway, indistinguishable from a broken server.
// Removing it says what happened. Operators who want a maintenance page
// for unknown or disabled hosts add a lowest-priority catch-all router in
// Traefik's file provider (ops/traefik/traefik.yml shows one, commented).
//
// # Moves without a window
//
// When a site's web server changes (migrate), the instance on the new
// server's node is registered first, with the status of a check made right
// then; the instance on the old node stays until the new one is passing,
// and is removed in the pass after. During the overlap Traefik balances
// over both (same router, same service, two servers), so the domain never
// answers from nowhere. If the new instance never passes, the old one stays
// (and is dropped by Traefik on its own check once the old server no
// longer serves the site); the new server's failing check says why. A
// delete or disable removes every instance.
//
// The old web server keeps the site until the router has let it go: the
// migrate leaves the old place (provision.EnvInfo.ReleaseLater) and its
// release-old-place task waits in the dispatcher until Routes says the
// catalog no longer holds the old instance, plus a grace of at least the
// router's refresh (scheduler/dispatch.Config.RouterGrace, aegir's
// routing.release_grace).
//
// # Consul ACLs and scale
//
// With ACLs, the reconciler's token (aegir's Consul token) needs write on
// the "aegir-" nodes and the "aegir-site" service (ops/consul/aegir-policy.hcl),
// Traefik's only read on both (ops/consul/traefik-policy.hcl);
// ops/consul/setup-acl.sh loads them and makes the tokens, and acl_test.go
// routes sites through Traefik with just those. A refused catalog call
// wraps ErrPermissionDenied and says which setting and policy to fix; Run
// logs it as an error, keeps it in Status (which aegir's status view
// shows as routing degraded), and retries with backoff, so a fixed token
// takes effect without a restart. Every instance is one catalog service, so a
// router reads all sites in one /v1/health/service/aegir-site answer; the
// reconciler makes one GET per site per CheckInterval (at most Concurrency
// at a time) and writes only on changes.
//
// # Reconciling
//
// Reconciler.Run follows three things without polling: the store's site
// mirror (Store.WatchSites), servers, services and platforms
// (Store.WatchPlacement), and the catalog's instances of the service with
// their checks (a blocking query on /v1/health/service/aegir-site?tag=aegir).
// After any change it compares desired (enabled sites → instance on their
// web server's node) with actual, and repairs both ways: registers missing
// or changed instances, removes instances of sites that are gone, disabled
// or moved, and instances carrying the aegir tag that are not aegir's.
// After writing it re-reads the catalog, so it never acts twice on a stale
// view. Only instances with the aegir tag are touched.
package routing
