package dashboard

import (
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
)

// tokenCreate is the body of POST /tokens. ttl is a Go duration ("720h");
// empty means the token does not expire. user_id is for admins creating a
// token for someone else.
type tokenCreate struct {
	Name   string `json:"name,omitempty"`
	UserID string `json:"user_id,omitempty"`
	TTL    string `json:"ttl,omitempty"`
}

// tokenCreated is the answer to POST /tokens: the only time the secret is
// shown.
type tokenCreated struct {
	Token  *domain.Token `json:"token"`
	Secret string        `json:"secret"`
}

func publicToken(t *domain.Token) *domain.Token {
	cp := *t
	cp.Hash = ""
	return &cp
}

// listTokens lists the caller's tokens; an admin sees everyone's, or one
// user's with ?user_id=.
func (s *Server) listTokens(c *fiber.Ctx) error {
	u := currentUser(c)
	uid := u.ID
	if u.Role == domain.RoleAdmin {
		uid = c.Query("user_id")
	}
	all, err := s.st.ListTokens(c.UserContext(), uid)
	if err != nil {
		return err
	}
	out := make([]domain.Token, len(all))
	for i := range all {
		out[i] = *publicToken(&all[i])
	}
	slices.SortFunc(out, func(a, b domain.Token) int { return strings.Compare(a.ID, b.ID) })
	return paginate(c, out)
}

func (s *Server) createToken(c *fiber.Ctx) error {
	var req tokenCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	u := currentUser(c)
	uid := u.ID
	if req.UserID != "" && req.UserID != u.ID {
		if u.Role != domain.RoleAdmin {
			return errAdminWrite("create tokens for other users")
		}
		uid = req.UserID
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return domain.Invalid("ttl", "must be a positive duration such as 720h")
		}
		ttl = d
	}
	tok, secret, err := s.st.CreateToken(c.UserContext(), uid, req.Name, ttl)
	if err != nil {
		return err
	}
	c.Status(fiber.StatusCreated)
	return c.JSON(tokenCreated{Token: publicToken(tok), Secret: secret})
}

func (s *Server) deleteToken(c *fiber.Ctx) error {
	id := idParam(c)
	tok, err := s.st.GetToken(c.UserContext(), id)
	if err != nil {
		return err
	}
	if u := currentUser(c); u.Role != domain.RoleAdmin && tok.UserID != u.ID {
		return domain.NotFound("token", id)
	}
	if err := s.st.DeleteToken(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
