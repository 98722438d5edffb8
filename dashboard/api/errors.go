package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
)

// Stable error codes of the API. Clients branch on these, never on the
// message text, so they never change meaning.
const (
	CodeInvalid           = "invalid"
	CodeMalformedJSON     = "malformed_json"
	CodeUnknownField      = "unknown_field"
	CodeUnauthorized      = "unauthorized"
	CodeForbidden         = "forbidden"
	CodeNotFound          = "not_found"
	CodeMethodNotAllowed  = "method_not_allowed"
	CodeConflict          = "conflict"
	CodeDuplicate         = "duplicate"
	CodeIllegalTransition = "illegal_transition"
	CodeTooLarge          = "too_large"
	CodeInternal          = "internal"
	CodeUnavailable       = "unavailable"
	// CodeQuotaExceeded refuses a client user's request that would take
	// their client over a quota; the field is "quotas.<name>" (tasks,
	// backups, sites, disk) and the message says what to do.
	CodeQuotaExceeded = "quota_exceeded"
	// CodeStoreUnavailable: the store (Consul) did not answer or could not
	// serve (a restart, a leader election) even after retries; the request
	// may be tried again. A write may have been applied.
	CodeStoreUnavailable = "store_unavailable"
	// CodeBusUnavailable: Redis, which holds aegir's locks and live logs,
	// did not answer; the request may be tried again.
	CodeBusUnavailable = "bus_unavailable"
)

// ErrorBody is the JSON of every error response: {"error": {...}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is one error: a stable code, a message for people and,
// for validation errors, the field at fault.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// apiError is an error the API itself raises (bad JSON, missing token,
// a refused action) with its status and code already decided.
type apiError struct {
	status  int
	code    string
	field   string
	message string
	err     error // wrapped cause, for errors.Is; never shown
}

func (e *apiError) Error() string { return e.message }
func (e *apiError) Unwrap() error { return e.err }

func newAPIError(status int, code, field, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, field: field, message: fmt.Sprintf(format, args...)}
}

// errUnavailable says a part of the server this request needs is not
// configured in this process.
func errUnavailable(what string) error { return control.Unavailable(what) }

// MapError turns any error into a status and the body the client sees. It
// decides by identity (errors.Is/As), never by message text. Messages of 4xx
// errors come from domain errors, which quote only what the client sent
// (clipped) and ids; a 5xx gets a fixed message and a request id, and its
// cause goes only to the server log, so no internal detail (addresses,
// paths, anything secret-adjacent) leaks.
func MapError(err error, requestID string) (int, ErrorDetail) {
	var (
		ae  *apiError
		ve  *domain.ValidationError
		de  *domain.DuplicateError
		qe  *domain.QuotaError
		fe  *fiber.Error
		msg = err.Error()
	)
	switch {
	case errors.As(err, &ae):
		return ae.status, ErrorDetail{Code: ae.code, Message: ae.message, Field: ae.field}
	case errors.As(err, &ve):
		return fiber.StatusBadRequest, ErrorDetail{Code: CodeInvalid, Message: msg, Field: ve.Field}
	case errors.As(err, &de):
		return fiber.StatusConflict, ErrorDetail{Code: CodeDuplicate, Message: msg, Field: de.Kind}
	case errors.As(err, &qe):
		return fiber.StatusConflict, ErrorDetail{Code: CodeQuotaExceeded, Message: msg, Field: "quotas." + qe.Quota}
	case errors.Is(err, domain.ErrInvalid):
		return fiber.StatusBadRequest, ErrorDetail{Code: CodeInvalid, Message: msg}
	case errors.Is(err, domain.ErrUnauthorized):
		return fiber.StatusUnauthorized, ErrorDetail{Code: CodeUnauthorized, Message: msg}
	case errors.Is(err, domain.ErrForbidden):
		return fiber.StatusForbidden, ErrorDetail{Code: CodeForbidden, Message: msg}
	case errors.Is(err, domain.ErrNotFound):
		return fiber.StatusNotFound, ErrorDetail{Code: CodeNotFound, Message: msg}
	case errors.Is(err, domain.ErrDuplicate):
		return fiber.StatusConflict, ErrorDetail{Code: CodeDuplicate, Message: msg}
	case errors.Is(err, domain.ErrIllegalTransition):
		return fiber.StatusConflict, ErrorDetail{Code: CodeIllegalTransition, Message: msg}
	case errors.Is(err, domain.ErrConflict), errors.Is(err, domain.ErrBusy):
		return fiber.StatusConflict, ErrorDetail{Code: CodeConflict, Message: msg}
	case errors.Is(err, store.ErrUnavailable):
		return fiber.StatusServiceUnavailable, ErrorDetail{Code: CodeStoreUnavailable,
			Message: "aegir's store (Consul) is unavailable; try again in a moment, and check what a change you made did before repeating it (request " + requestID + ")"}
	case errors.Is(err, locks.ErrUnavailable):
		return fiber.StatusServiceUnavailable, ErrorDetail{Code: CodeBusUnavailable,
			Message: "Redis, which holds aegir's locks, did not answer; try again in a moment (request " + requestID + ")"}
	case errors.Is(err, control.ErrUnavailable):
		return fiber.StatusServiceUnavailable, ErrorDetail{Code: CodeUnavailable, Message: msg}
	case errors.Is(err, domain.ErrTooLarge):
		return fiber.StatusRequestEntityTooLarge, ErrorDetail{Code: CodeTooLarge, Message: msg}
	case errors.As(err, &fe):
		return fiberError(fe)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fiber.StatusServiceUnavailable, ErrorDetail{Code: CodeUnavailable,
			Message: "the store did not answer in time; try again (request " + requestID + ")"}
	}
	return fiber.StatusInternalServerError, ErrorDetail{Code: CodeInternal,
		Message: "internal error; the server log has the details under request id " + requestID}
}

// fiberError maps the errors Fiber raises itself (no route, body over the
// limit, unparsable request) to the API's codes.
func fiberError(fe *fiber.Error) (int, ErrorDetail) {
	switch fe.Code {
	case fiber.StatusNotFound:
		return fe.Code, ErrorDetail{Code: CodeNotFound, Message: "no such API route; see /api/v1/openapi.json"}
	case fiber.StatusMethodNotAllowed:
		return fe.Code, ErrorDetail{Code: CodeMethodNotAllowed, Message: "method not allowed on this route; see /api/v1/openapi.json"}
	case fiber.StatusRequestEntityTooLarge:
		return fe.Code, ErrorDetail{Code: CodeTooLarge, Message: "request body is larger than the server accepts"}
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return fe.Code, ErrorDetail{Code: CodeTooLarge, Message: "request headers are larger than the server accepts"}
	case fiber.StatusRequestTimeout:
		return fe.Code, ErrorDetail{Code: CodeInvalid, Message: "the request was not received in time"}
	}
	if fe.Code >= 500 {
		return fiber.StatusInternalServerError, ErrorDetail{Code: CodeInternal, Message: "internal error"}
	}
	// Other Fiber errors carry fasthttp's parse messages; keep them out.
	return fiber.StatusBadRequest, ErrorDetail{Code: CodeInvalid, Message: "malformed HTTP request"}
}

// errorHandler is Fiber's ErrorHandler: the one place an error becomes a
// response. 4xx are logged at debug, 5xx at error with their cause.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	rid := RequestID(c)
	status, detail := MapError(err, rid)
	if u := CurrentUser(c); u != nil && u.Role != domain.RoleAdmin {
		detail = RedactForClient(err, detail)
	}
	attrs := []any{"method", c.Method(), "path", c.Path(), "status", status, "code", detail.Code, "request_id", rid}
	if status >= 500 {
		s.log.Error("request failed", append(attrs, "err", err)...)
	} else {
		s.log.Debug("request refused", append(attrs, "err", err)...)
	}
	if status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="aegir"`)
	}
	return c.Status(status).JSON(ErrorBody{Error: detail})
}

// RedactForClient removes what a client user must not learn from an error:
// the id of another client's site that already owns a domain.
func RedactForClient(err error, d ErrorDetail) ErrorDetail {
	var de *domain.DuplicateError
	if errors.As(err, &de) && de.OwnerID != "" {
		d.Message = (&domain.DuplicateError{Kind: de.Kind, Value: de.Value}).Error()
	}
	return d
}

// Unauthorized is the 401 a transport answers when the request carries no
// valid credentials (the HTML dashboard's page script: no session).
func Unauthorized(format string, args ...any) error {
	return newAPIError(fiber.StatusUnauthorized, CodeUnauthorized, "", format, args...)
}
