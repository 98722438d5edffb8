// Package domain holds aegir's entities, their validation and their state
// machines. It has no I/O: the store persists these values, the API decodes
// them from requests, the back end receives them flattened in a task context.
//
// Validation happens at construction (the Validate methods and the Normalize*
// functions) so that nothing downstream ever has to re-check a domain, a name
// or a path before putting it into an nginx vhost, an SQL identifier or an
// argv. The alphabets are allow-lists, deliberately narrow.
//
// Site, task, platform and server status are explicit state machines: a
// transition not in the table is an error wrapping ErrIllegalTransition, never
// a silent overwrite.
//
// The service kinds (ServiceKind, ServiceType and their constants) are
// internal/servicekind's, re-exported here: that package, which imports
// only the standard library and so sits below this one, lists the kinds
// aegir has drivers for, and Service.Validate accepts exactly those.
package domain
