package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// decode reads the request body into v strictly: one JSON object, no
// unknown fields, nothing after it. Fiber has already refused bodies over
// Config.BodyLimit with 413; the check here covers any path that skips it.
func (s *Server) decode(c *fiber.Ctx, v any) error {
	body := c.Body()
	if len(body) > s.cfg.BodyLimit {
		return newAPIError(fiber.StatusRequestEntityTooLarge, CodeTooLarge, "",
			"request body is larger than %d bytes", s.cfg.BodyLimit)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return newAPIError(fiber.StatusBadRequest, CodeMalformedJSON, "", "request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newAPIError(fiber.StatusBadRequest, CodeMalformedJSON, "", "unexpected data after the JSON object; send exactly one object")
	}
	return nil
}

// decodeError turns an encoding/json error into the API's error. The
// messages name fields and offsets but never quote values, so a password
// sent with the wrong type is not echoed.
func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return newAPIError(fiber.StatusBadRequest, CodeMalformedJSON, "", "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return newAPIError(fiber.StatusBadRequest, CodeMalformedJSON, "", "malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return newAPIError(fiber.StatusBadRequest, CodeMalformedJSON, "", "the body must be a JSON object, not a %s", typ.Value)
		}
		return newAPIError(fiber.StatusBadRequest, CodeInvalid, field, "%s: expected %s, got a JSON %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	// encoding/json has no typed error for DisallowUnknownFields; its
	// message is the documented `json: unknown field "<name>"`.
	if name, ok := strings.CutPrefix(err.Error(), `json: unknown field "`); ok {
		name = strings.TrimSuffix(name, `"`)
		if len(name) > 64 {
			name = name[:64] + "…"
		}
		return newAPIError(fiber.StatusBadRequest, CodeUnknownField, name, "unknown field %q; see /api/v1/openapi.json for the fields this request takes", name)
	}
	return newAPIError(fiber.StatusBadRequest, CodeMalformedJSON, "", "malformed JSON request body")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int64", "uint64", "int32", "uint32", "uint", "float64":
		return "a number"
	}
	return "another type"
}
