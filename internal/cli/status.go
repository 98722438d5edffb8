package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/aegirhq/aegir/internal/apiv1"
)

// The status noun is a command of its own: `aegir status`.
func init() {
	nouns = append(nouns, statusNoun)
}

var statusNoun = &noun{
	name:    "status",
	summary: "The state of every component of the aegir server (admin): store, dispatcher, Nomad, Redis, secrets, routing.",
	run: &verb{args: "[-json]", run: statusShow,
		summary: "Show each component the aegir server at AEGIR_ADDR depends on as ok, degraded or down with what its check saw, " +
			"and whether that server leads (dispatches). Exit 1 if any component is down, so a monitor can run it.",
		examples: []string{"aegir status", "aegir status -json | jq '.components[] | select(.status != \"ok\")'", "aegir status >/dev/null || page-the-operator"}},
}

func statusShow(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	asJSON := jsonFlag(fs)
	_, c, err := a.connect(fs, args, 0, 0)
	if err != nil {
		return err
	}
	var st apiv1.SystemStatus
	raw, err := c.get(ctx, c.path("status"), nil, &st)
	if err != nil {
		return err
	}
	if *asJSON {
		err = a.printJSON(raw)
	} else {
		t := newTable(a.stdout, "COMPONENT", "STATUS", "MESSAGE")
		for _, comp := range st.Components {
			t.row(comp.Name, string(comp.Status), comp.Message)
		}
		if err = t.flush(); err == nil {
			role := "is on standby: another aegir server leads and dispatches"
			if st.Leader {
				role = "leads: it dispatches tasks, publishes routing and runs the queues"
			}
			_, err = fmt.Fprintf(a.stdout, "\nThe aegir server at %s (version %s) %s.\n", c.addr, sanitize(st.Version), role)
		}
	}
	if err != nil {
		return err
	}
	var down []string
	for _, comp := range st.Components {
		if comp.Status == apiv1.StateDown {
			down = append(down, sanitize(comp.Name))
		}
	}
	switch len(down) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s is down", down[0])
	}
	return fmt.Errorf("%s are down", strings.Join(down, ", "))
}
