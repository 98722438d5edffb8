// Package apiv1 holds the request bodies and answers of aegir's REST API
// (/api/v1) in one place: the API (dashboard/api) decodes and encodes
// them and describes them in its OpenAPI document, the service layer
// (internal/control) takes them as its inputs, and a Go client such as
// the CLI may use them instead of declaring its own. It imports only
// internal/domain, so any layer may use it.
package apiv1
