package domain

import "time"

// Client is the person or group that runs sites: the unit of billing and of
// access for client users.
type Client struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Title string `json:"title,omitempty"`
	Email string `json:"email,omitempty"`
	// Quotas are this client's own limits (admins set them); a quota not
	// named here takes the server's default (domain.QuotaNames).
	Quotas    Quotas    `json:"quotas,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   uint64    `json:"version"`
}

// Validate checks the client's fields.
func (c *Client) Validate() error {
	if err := ValidateName("name", c.Name); err != nil {
		return err
	}
	if err := validateText("title", c.Title, 200); err != nil {
		return err
	}
	if err := validateText("email", c.Email, 254); err != nil {
		return err
	}
	return c.Quotas.Validate("quotas")
}

// validateText accepts printable text up to max bytes, with no control
// characters.
func validateText(field, s string, max int) error {
	if len(s) > max {
		return Invalid(field, "is longer than %d characters", max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return Invalid(field, "contains control characters")
		}
	}
	return nil
}
