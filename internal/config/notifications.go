package config

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"
)

// NotificationsConfig configures how the leader delivers notifications
// (internal/notify): the digest that replaces a flood, webhooks' reach,
// and the SMTP server for email. HCL block "notifications".
type NotificationsConfig struct {
	// DigestThreshold is how many messages one subscription is sent one
	// by one within DigestWindow; the events after that go out together
	// as one digest at the end of the window. Default 10.
	DigestThreshold int `hcl:"digest_threshold,optional"`
	// DigestWindow is that window. Default "1m".
	DigestWindow string `hcl:"digest_window,optional"`
	// WebhookPrivateAddresses lets webhooks reach loopback, private and
	// link-local addresses (a receiver on this machine or its LAN). Off by
	// default, so that a subscription cannot make aegir post to Consul,
	// Vault or a cloud metadata endpoint; checked on the address actually
	// dialled, so DNS cannot dodge it. Default false.
	WebhookPrivateAddresses bool `hcl:"webhook_private_addresses,optional"`
	// SMTP is the mail server email subscriptions are sent through; without
	// it email deliveries fail saying so.
	SMTP *SMTPConfig `hcl:"smtp,block"`
}

// SMTPConfig reaches the mail server. aegir always upgrades the
// connection with STARTTLS and verifies the server's certificate; a
// server that does not offer STARTTLS gets no mail.
type SMTPConfig struct {
	// Address is host:port of the submission service, such as
	// "smtp.example.com:587". Required.
	Address string `hcl:"address"`
	// From is the sender's address. Required.
	From string `hcl:"from"`
	// Username and PasswordFile log in (AUTH PLAIN, over TLS only); the
	// file holds the password (trailing newline ignored). Default: no
	// login.
	Username     string `hcl:"username,optional"`
	PasswordFile string `hcl:"password_file,optional"`
	// CAFile is a PEM file of the CA that signed the server's
	// certificate. Default: the system's roots.
	CAFile string `hcl:"ca_file,optional"`
	// ServerName is the name the certificate must carry. Default: the
	// host of Address.
	ServerName string `hcl:"server_name,optional"`
}

// DigestWindowDuration returns Notifications.DigestWindow parsed.
func (c *Config) DigestWindowDuration() time.Duration {
	d, _ := time.ParseDuration(c.Notifications.DigestWindow)
	return d
}

func (n *NotificationsConfig) applyDefaults() {
	n.DigestThreshold = cmp.Or(n.DigestThreshold, 10)
	n.DigestWindow = cmp.Or(n.DigestWindow, "1m")
}

func (n *NotificationsConfig) validate() error {
	var errs []error
	if n.DigestThreshold < 1 {
		errs = append(errs, fmt.Errorf("notifications digest_threshold %d: give at least 1", n.DigestThreshold))
	}
	if d, err := time.ParseDuration(n.DigestWindow); err != nil || d < time.Second {
		errs = append(errs, fmt.Errorf("notifications digest_window %q is not a duration of at least 1s like 1m", n.DigestWindow))
	}
	if s := n.SMTP; s != nil {
		if _, _, err := net.SplitHostPort(s.Address); err != nil {
			errs = append(errs, fmt.Errorf("notifications smtp address %q is not host:port (smtp.example.com:587)", s.Address))
		}
		if a, err := mail.ParseAddress(s.From); err != nil || a.Name != "" || a.Address != s.From {
			errs = append(errs, fmt.Errorf("notifications smtp from %q is not a plain email address (aegir@example.com)", s.From))
		}
		if s.PasswordFile != "" && s.Username == "" {
			errs = append(errs, errors.New("notifications smtp password_file is set without username"))
		}
		if s.PasswordFile != "" {
			if _, err := os.ReadFile(s.PasswordFile); err != nil {
				errs = append(errs, fmt.Errorf("notifications smtp password_file: %w", err))
			}
		}
		if _, err := s.TLSConfig(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Password reads PasswordFile ("" without one).
func (s *SMTPConfig) Password() (string, error) {
	if s.PasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("notifications smtp password_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// TLSConfig is the STARTTLS configuration: the server name to verify and
// the CA to trust.
func (s *SMTPConfig) TLSConfig() (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(s.Address)
	c := &tls.Config{ServerName: cmp.Or(s.ServerName, host), MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("notifications smtp ca_file: %w (give a readable PEM file of the CA that signed the mail server's certificate)", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("notifications smtp ca_file %s holds no PEM certificate", s.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}
