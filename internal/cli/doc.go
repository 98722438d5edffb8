// Package cli is the command-line client of the aegir REST API: the
// `aegir <noun> <verb>` commands, in the manner of the Nomad CLI.
//
// The root command (main.go) routes every noun returned by Nouns to Run.
// Run reads two environment variables:
//
//	AEGIR_ADDR   the API's address, default http://127.0.0.1:8480
//	AEGIR_TOKEN  an API token (aegir_<id>_<hex>); the first start of aegir
//	             writes the admin's to <data-dir>/admin-token
//
// `aegir status` is a noun without verbs: a noun may carry its own run
// (noun.run), whose flags follow the noun.
//
// Every read command takes -json, which prints the API's JSON document
// (indented) instead of a table, for scripts. Commands that queue a task
// print its id and take -wait, which follows the task's log until it ends
// and sets the exit code from its outcome.
//
// # Resources
//
// The list, show and delete commands of a collection are not written per
// noun. Each noun declares a resource[T] (resource.go): its API path,
// whether the API takes names in the path or only ids, how an item names
// itself, and its filters, table columns and details; the noun's list,
// show and delete verbs run the resource's list, show and remove. Other
// commands turn a -platform or -client flag into an id through the same
// value (find, idOf, idsOf).
//
// # Service settings
//
// `aegir service show|set|unset` read and change the settings of a
// server's web or database service; `aegir service kinds` lists what each
// kind reads. The help text and listings come from internal/servicekind's
// descriptors, compiled in (a standard-library leaf); the values are
// checked by the API, which refuses a key the kind does not read and a
// value its descriptor's Validate rejects, so this client never decides
// what is valid.
//
// # Exit codes
//
//	0  success (with -wait or `task logs -f`: the task succeeded)
//	1  the operation failed: the API refused it, or the task failed or was
//	   cancelled; `aegir status`: a component is down
//	2  usage error: unknown command or flag, wrong arguments, a name
//	   close to an existing one (a typo: the message names the one
//	   meant, suggest.go), or a destructive command run without -yes
//	   where nobody can confirm it
//	3  cannot reach the API, or the token is missing or not accepted
//
// API errors are printed on stderr as `Error: <message> (<code>)`, where
// code is the API's stable error code (invalid, not_found, duplicate, ...).
//
// # Following logs
//
// `task logs -f` and -wait read GET /api/v1/tasks/{id}/log?follow=1 as
// server-sent events: one event per log line, each with an `id:`, and an
// event named "end" when the log is complete. When the connection drops
// before "end", the client reconnects with Last-Event-ID set to the last id
// it printed, so no line is printed twice or lost; it gives up after a
// bounded number of attempts without progress. A server that answers the
// follow request with plain JSON is polled with ?after= instead. When the
// log has ended the client reads the task until it is final (the result is
// applied after the log ends) and exits 0 only if it succeeded.
package cli
