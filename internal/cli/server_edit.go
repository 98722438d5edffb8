package cli

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// serverEdit changes the fields of a server given as flags, leaving the
// others as they are. The API queues verify-server with the change.
func serverEdit(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	fs.String("address", "", "IP address or host name of the server")
	fs.String("nomad-node", "", "the Nomad client node that runs tasks for this server ('' for the local executor)")
	fs.String("name", "", "a new name for the server")
	tf := taskFlags(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	change := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "address", "nomad-node", "name":
			change[strings.ReplaceAll(f.Name, "-", "_")] = f.Value.String()
		}
	})
	if len(change) == 0 {
		return usagef("nothing to change: give -address, -nomad-node or -name (services: 'aegir service set %s http KEY=VALUE')", pos[0])
	}
	if v, ok := change["address"]; ok && v == "" {
		return usagef("-address must not be empty")
	}
	if v, ok := change["name"]; ok && v == "" {
		return usagef("-name must not be empty")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	s, raw, err := serverResource.find(ctx, c, pos[0])
	if err != nil {
		return err
	}
	body, err := withChanges(raw, change)
	if err != nil {
		return err
	}
	var out struct {
		Server *domain.Server `json:"server"`
		Task   *domain.Task   `json:"task"`
	}
	raw, err = c.do(ctx, http.MethodPut, c.path("servers", s.ID), nil, body, &out)
	if err != nil {
		return err
	}
	name := s.Name
	if out.Server != nil {
		name = out.Server.Name
	}
	return a.queued(ctx, c, tf, raw, out.Task, fmt.Sprintf("Server %s updated.", name))
}
