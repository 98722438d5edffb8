package api

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
)

// authenticated wraps h: it reads the bearer token, authenticates it
// against the store and puts the user and token in c.Locals. The token
// itself is never logged or echoed. A queue user's token (role queue)
// passes only where queueOK (operation.queueToken): deny by default.
func (s *Server) authenticated(h fiber.Handler, queueOK bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		auth := c.Get(fiber.HeaderAuthorization)
		scheme, secret, ok := strings.Cut(auth, " ")
		if auth == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			return newAPIError(fiber.StatusUnauthorized, CodeUnauthorized, "",
				"missing bearer token; send Authorization: Bearer <token> (aegir dev writes the admin token to <data-dir>/admin-token)")
		}
		u, tok, err := s.st.Authenticate(c.UserContext(), strings.TrimSpace(secret))
		if err != nil {
			if errors.Is(err, domain.ErrUnauthorized) {
				return newAPIError(fiber.StatusUnauthorized, CodeUnauthorized, "",
					"unknown, revoked or expired token; an admin makes a new one with 'aegir token create -user NAME', or make your own on the dashboard's Tokens page")
			}
			return err
		}
		c.Locals(localUser, u)
		c.Locals(localToken, tok)
		if s.cfg.ClientAddr != nil {
			SetClientAddr(c, s.cfg.ClientAddr(c))
		}
		if u.Role == domain.RoleQueue && !queueOK {
			return errQueueToken
		}
		return h(c)
	}
}

// errQueueToken refuses a queue token (role queue) everything but the
// routes a queue pass needs.
var errQueueToken = newAPIError(fiber.StatusForbidden, CodeForbidden, "",
	"a queue token may only start and follow queue passes (POST /api/v1/queues/{id}/run, GET /api/v1/queues/{id}/passes/{pass}); use an admin's or a client user's token for anything else")

// CurrentUser is the authenticated user, or nil on public routes.
func CurrentUser(c *fiber.Ctx) *domain.User {
	u, _ := c.Locals(localUser).(*domain.User)
	return u
}

// actor is the acting user of the request for the service layer.
func actor(c *fiber.Ctx) control.Actor { return Actor(c) }

// Actor is the acting user of the request and its client address (for the
// audit log), for the service layer.
func Actor(c *fiber.Ctx) control.Actor { return control.As(CurrentUser(c)).From(ClientAddr(c)) }

const localAddr = "aegir.clientaddr"

// SetClientAddr records the request's client address as a transport
// resolved it (the dashboard's, through its trusted proxies).
func SetClientAddr(c *fiber.Ctx, addr string) { c.Locals(localAddr, addr) }

// ClientAddr is the request's client address: SetClientAddr's, or the TCP
// peer (the API believes no forwarding header).
func ClientAddr(c *fiber.Ctx) string {
	if a, ok := c.Locals(localAddr).(string); ok && a != "" {
		return a
	}
	ip, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return ip.Unmap().String()
}

func isAdmin(c *fiber.Ctx) bool { return actor(c).Admin() }

// errAdminList is the answer to a client user listing an admin-only
// collection. Single entities of such collections answer 404 instead, so
// that nothing about their existence leaks.
func errAdminList(what string) error { return control.AdminOnly("list " + what) }

// errAdminWrite refuses a change only admins may make, on something the
// client user can see anyway.
func errAdminWrite(what string) error { return control.AdminOnly(what) }

// requireAdminList and friends gate admin-only routes before their body is
// read; the service layer checks again (internal/control).
func requireAdminList(what string, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !isAdmin(c) {
			return errAdminList(what)
		}
		return h(c)
	}
}

func requireAdminWrite(what string, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !isAdmin(c) {
			return errAdminWrite(what)
		}
		return h(c)
	}
}

// RequireAdminEntity answers 404 to a client user for an admin-only
// entity, whether or not it exists.
func RequireAdminEntity(kind string, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !isAdmin(c) {
			return domain.NotFound(kind, c.Params("id"))
		}
		return h(c)
	}
}
