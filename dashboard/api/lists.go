package api

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
)

// List is the JSON of every list response.
type List[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

const (
	defaultLimit = 50
	maxLimit     = 1000
)

// page reads ?limit= (default 50, at most 1000) and ?offset=.
func page(c *fiber.Ctx) (offset, limit int, err error) {
	limit, err = queryInt(c, "limit", defaultLimit)
	if err != nil {
		return 0, 0, err
	}
	offset, err = queryInt(c, "offset", 0)
	if err != nil {
		return 0, 0, err
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	return offset, min(limit, maxLimit), nil
}

func queryInt(c *fiber.Ctx, name string, def int) (int, error) {
	s := c.Query(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, domain.Invalid(name, "must be a whole number of 0 or more")
	}
	return n, nil
}

// queryVersion reads the ?version= a DELETE must carry.
func queryVersion(c *fiber.Ctx) (uint64, error) {
	s := c.Query("version")
	if s == "" {
		return 0, domain.Invalid("version", "is required; GET the entity and pass its version, so you delete what you saw")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		return 0, domain.Invalid("version", "must be a positive whole number")
	}
	return v, nil
}

// paginate returns one page of items, which the store returned whole.
func paginate[T any](c *fiber.Ctx, items []T) error {
	offset, limit, err := page(c)
	if err != nil {
		return err
	}
	out := List[T]{Items: []T{}, Total: len(items), Offset: offset, Limit: limit}
	if offset < len(items) {
		out.Items = items[offset:min(len(items), offset+limit)]
	}
	return c.JSON(out)
}

// idParam returns the :id route parameter, copied out of Fiber's buffer.
func idParam(c *fiber.Ctx) string {
	return string([]byte(c.Params("id")))
}

// created answers 201 with {"<kind>": entity, "task": task}, or the entity
// alone when no task was queued.
func created(c *fiber.Ctx, kind string, entity any, task *domain.Task) error {
	c.Status(fiber.StatusCreated)
	if task == nil {
		return c.JSON(entity)
	}
	return c.JSON(map[string]any{kind: entity, "task": task})
}
