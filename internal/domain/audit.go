package domain

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// AuditEntry is one line of the audit log: who did what, when, from where,
// to which object. It is written in the same store transaction as the
// change it records (a failed login, which changes nothing, is written
// alone), so the log has an entry for a change exactly when the change
// happened.
type AuditEntry struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// UserID and UserName are who acted; empty for an unknown name at login.
	UserID   string `json:"user_id,omitempty"`
	UserName string `json:"user_name,omitempty"`
	// Address is the client address as the transport resolved it. A
	// client user is shown it on their own entries only (control.Audit).
	Address string `json:"address,omitempty"`
	// Action is what happened: "login", "login_failed", "logout",
	// "create", "update", "delete", "request_task", "create_token",
	// "revoke_token", "set_credentials"...
	Action string `json:"action"`
	// Kind and ObjectID name the object acted on ("site", "user"...).
	Kind     string `json:"kind,omitempty"`
	ObjectID string `json:"object_id,omitempty"`
	// ClientID is the client the object belongs to, when it belongs to
	// one: a client user sees the entries of their own clients.
	ClientID string `json:"client_id,omitempty"`
	// Fields are the changed fields and their new values, secrets removed
	// (see AuditFields).
	Fields map[string]string `json:"fields,omitempty"`
}

// auditSecretWords mark a field whose value is never recorded: its name
// is, with the value "(secret)".
var auditSecretWords = []string{"password", "secret", "token", "hash", "credential", "key"}

// auditIgnored are bookkeeping fields every write changes.
var auditIgnored = map[string]bool{"id": true, "version": true, "created_at": true, "updated_at": true}

// AuditSecret reports whether a field's name marks a secret value.
func AuditSecret(name string) bool {
	n := strings.ToLower(name)
	for _, w := range auditSecretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// maxAuditValue bounds one recorded value.
const maxAuditValue = 200

// AuditFields returns the top-level JSON fields of after that differ from
// before (every non-empty field when before is nil), each with its new
// value as compact JSON (a string without its quotes), clipped; a field
// whose name marks a secret has the value "(secret)". Version and
// timestamps are left out.
func AuditFields(before, after any) map[string]string {
	b, a := jsonFields(before), jsonFields(after)
	out := map[string]string{}
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if auditIgnored[k] || string(a[k]) == string(b[k]) {
			continue
		}
		if len(b) == 0 && emptyJSON(a[k]) {
			continue
		}
		out[k] = AuditValue(k, a[k])
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// AuditValue renders one field's raw JSON value for the log.
func AuditValue(name string, raw json.RawMessage) string {
	if AuditSecret(name) {
		return "(secret)"
	}
	var s string
	v := string(raw)
	if json.Unmarshal(raw, &s) == nil {
		v = s
	}
	if len(v) > maxAuditValue {
		v = v[:maxAuditValue] + "…"
	}
	return v
}

func jsonFields(v any) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	if v == nil {
		return out
	}
	b, err := json.Marshal(v)
	if err != nil {
		return out
	}
	_ = json.Unmarshal(b, &out)
	return out
}

func emptyJSON(raw json.RawMessage) bool {
	switch string(raw) {
	case "", `""`, "null", "[]", "{}", "0", "false":
		return true
	}
	return false
}
