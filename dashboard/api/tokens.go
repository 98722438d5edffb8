package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
)

// listTokens lists the caller's tokens; an admin sees everyone's, or one
// user's with ?user_id=.
func (s *Server) listTokens(c *fiber.Ctx) error {
	out, err := s.ctl.Tokens.List(c.UserContext(), actor(c), c.Query("user_id"))
	if err != nil {
		return err
	}
	return paginate(c, out)
}

func (s *Server) createToken(c *fiber.Ctx) error {
	var req apiv1.TokenCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	tok, secret, err := s.ctl.Tokens.Create(c.UserContext(), actor(c), req)
	if err != nil {
		return err
	}
	c.Status(fiber.StatusCreated)
	return c.JSON(apiv1.TokenCreated{Token: tok, Secret: secret})
}

func (s *Server) deleteToken(c *fiber.Ctx) error {
	if _, err := s.ctl.Tokens.Delete(c.UserContext(), actor(c), idParam(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
