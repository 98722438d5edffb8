package dberr

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestCode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want string
	}{
		{&Error{Kind: ErrUnreachable, Engine: "mariadb", Addr: "127.0.0.1:3306", Op: "check", Err: syscall.ECONNREFUSED}, "db_unreachable"},
		{fmt.Errorf("install: %w", &Error{Kind: ErrAuthFailed, Err: errors.New("denied")}), "db_auth_failed"},
		{&Error{Kind: ErrExists, Err: errors.New("exists")}, "db_exists"},
		{errors.New("other"), ""},
	} {
		if got := Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	e := &Error{Kind: ErrUnreachable, Err: syscall.ECONNREFUSED}
	if !errors.Is(e, syscall.ECONNREFUSED) {
		t.Error("the driver's error is not reachable through Unwrap")
	}
}
