// Package control is aegir's service layer: the one path by which the REST
// API (dashboard/api) and the HTML dashboard (dashboard/web) read and change
// what the store holds on behalf of a person. Transports decode a request,
// name the acting user (an Actor) and call a method here; they never call
// the store themselves for anything that needs access rules.
//
// # Access
//
// Every method takes the Actor first after ctx. Two rules apply, each
// written once:
//
//   - Client scope (Actor.visible, Actor.Scope): a client user sees only
//     what belongs to their clients. Anything else that exists is reported
//     as domain.NotFound exactly as if it did not, so nothing leaks; lists
//     are filtered in the store by Actor.Scope.
//   - Admin-only actions (Actor.admin, Actor.adminEntity): a change only
//     admins may make is refused with a *Refusal wrapping
//     domain.ErrForbidden ("only admins can ..."); an admin-only entity
//     (server, service, user, queue) is not found to anyone else. Queue
//     users (the Nomad queue jobs' token) may only start and follow queue
//     passes (Actor.passRunner).
//
// Transports may refuse earlier (the API's route table gates admin routes
// before decoding a body) but must give the same answer; control checks
// again, so a new transport cannot forget.
//
// # Writes
//
// Every write is one method here and one store call, which writes the
// entity and queues its task in one transaction (site → install, platform
// → verify-platform, server → verify-server, site edit → verify). That
// method is where a client user's quotas are enforced (quotas.go: the
// guard put on the context, checked by the store in that same transaction
// check-and-set, so parallel requests cannot together exceed a quota), and
// where its audit entry is made (audit.go): Actor.record puts the entry on the context just
// before the store call (store.WithAudit), and the store writes it as one
// more op of that call's transaction, so a change has an entry exactly
// when it happened. What is not a store transaction (service credentials
// in the secrets backend, queue settings, a failed login) writes its entry
// alone (store.AppendAudit). An Actor carries the client address its
// transport resolved (Actor.From).
// The periodic queues (Queues, over scheduler/queue) are not in the store;
// their settings changes and started passes are logged here instead.
// Creates validate what needs no lookup first (a copy with placeholder
// ids), so the likeliest mistake is the one reported; then references are
// resolved by id or by name (resolve.go).
//
// # Errors
//
// Errors are the domain's sentinels and types (domain.ValidationError,
// NotFoundError, DuplicateError, ErrConflict, ...) plus ErrUnavailable for
// a part this process runs without. Each transport maps them to its own
// answer in one place (dashboard/api's MapError); nothing here knows HTTP.
//
// The inputs of the methods that create or run something are the REST
// API's request types (internal/apiv1), so the API passes a decoded body
// on as it is and the dashboard fills in the same struct from a form.
package control
