package weberr

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestCode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want string
	}{
		{&Error{Kind: ErrUnavailable, Server: "nginx", Op: "check", Err: errors.New("nginx not found")}, "web_unavailable"},
		{fmt.Errorf("publish: %w", &Error{Kind: ErrReload, Server: "nginx", Err: errors.New("no master")}), "web_publish_failed"},
		{&ConfigError{Server: "nginx", Domain: "a.example.com", Output: "bad"}, "web_publish_failed"},
		{errors.New("other"), ""},
	} {
		if got := Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	e := &Error{Kind: ErrUnavailable, Server: "builtin", Op: "check", Err: os.ErrPermission}
	if !errors.Is(e, os.ErrPermission) {
		t.Error("the driver's error is not reachable through Unwrap")
	}
	if got := e.Error(); got != "check: builtin is not usable: permission denied" {
		t.Errorf("Error() = %q", got)
	}
	ce := &ConfigError{Server: "nginx", Domain: "a.example.com", Output: "boom", AlreadyBroken: true}
	if !strings.Contains(ce.Error(), "another file is broken") || !strings.Contains(ce.Error(), "boom") {
		t.Errorf("ConfigError = %q", ce.Error())
	}
}
