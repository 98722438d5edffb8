package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// The service noun reads and changes the settings of a server's services:
// the keys each kind's driver reads, as internal/servicekind describes
// them. The API checks every value set (unknown keys are refused), so
// the CLI only parses key=value and lists what there is.
var serviceNoun = &noun{
	name:    "service",
	summary: "Show and change the settings of a server's web and database services.",
	verbs: []*verb{
		{name: "show", args: "SERVER TYPE|KIND [-json]", summary: "Show a service: every setting of its kind with its value, default and meaning.", run: serviceShow,
			examples: []string{"aegir service show web1 http", "aegir service show web1 db"}},
		{name: "set", args: "SERVER TYPE|KIND KEY=VALUE... [-port N]", summary: "Set settings (and the port) of a service; the API checks each value.", run: serviceSet,
			examples: []string{
				"aegir service set web1 http config_dir=/etc/nginx/sites-enabled main_config=/etc/nginx/nginx.conf",
				"aegir service set web1 db -port 3307",
			}},
		{name: "unset", args: "SERVER TYPE|KIND KEY...", summary: "Remove settings of a service, so its driver uses their defaults.", run: serviceUnset,
			examples: []string{"aegir service unset web1 http reload_command"}},
		{name: "kinds", args: "[KIND]", summary: "List the service kinds and the settings each one reads.", run: serviceKinds,
			examples: []string{"aegir service kinds", "aegir service kinds nginx"}},
	},
}

// findService finds the service of type or kind what on server ref, and
// returns it with its JSON as the API sent it and the server's name.
func findService(ctx context.Context, c *api, ref, what string) (*domain.Service, []byte, string, error) {
	srv, _, err := serverResource.find(ctx, c, ref)
	if err != nil {
		return nil, nil, "", err
	}
	raws, err := listAll[json.RawMessage](ctx, c, c.path("services"), url.Values{"server_id": {srv.ID}})
	if err != nil {
		return nil, nil, "", err
	}
	var have []string
	for _, raw := range raws {
		var svc domain.Service
		if err := json.Unmarshal(raw, &svc); err != nil {
			return nil, nil, "", err
		}
		if svc.ServerID != srv.ID {
			continue
		}
		if string(svc.Type) == what || string(svc.Kind) == what {
			return &svc, raw, srv.Name, nil
		}
		have = append(have, string(svc.Type)+" ("+string(svc.Kind)+")")
	}
	msg := fmt.Sprintf("server %s has no %s service", srv.Name, what)
	if len(have) > 0 {
		msg += "; it has " + strings.Join(have, ", ")
	}
	return nil, nil, "", &APIError{Status: http.StatusNotFound, Code: "not_found", Message: msg}
}

func serviceShow(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	asJSON := jsonFlag(fs)
	pos, c, err := a.connect(fs, args, 2, 2)
	if err != nil {
		return err
	}
	svc, raw, server, err := findService(ctx, c, pos[0], pos[1])
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	return a.serviceDetails(svc, server)
}

// serviceDetails prints a service and every setting of its kind: set
// ones with their value, the others with the default the driver uses.
// Stored keys the kind does not read are listed last, marked.
func (a *app) serviceDetails(svc *domain.Service, server string) error {
	d, known := servicekind.Lookup(svc.Kind)
	port := "-"
	switch {
	case svc.Port != 0:
		port = strconv.Itoa(svc.Port)
	case known && d.DefaultPort != 0:
		port = fmt.Sprintf("%d (default)", d.DefaultPort)
	}
	if err := a.fields(
		"ID", svc.ID,
		"Server", server,
		"Type", string(svc.Type),
		"Kind", string(svc.Kind),
		"Port", port,
		"Version", strconv.FormatUint(svc.Version, 10),
	); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "\nSettings")
	if known && len(d.Settings) == 0 && len(svc.Settings) == 0 {
		fmt.Fprintf(a.stdout, "  %s services take no settings.\n", svc.Kind)
		return nil
	}
	for _, s := range d.Settings {
		v, ok := svc.Settings[s.Key]
		writeSetting(a.stdout, s, v, ok, true)
	}
	extra := make([]string, 0, len(svc.Settings))
	for k := range svc.Settings {
		if _, ok := d.Setting(k); !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		writeSetting(a.stdout, servicekind.Setting{Key: k, Meaning: "(not read by " + string(svc.Kind) + " services)"}, svc.Settings[k], true, true)
	}
	fmt.Fprintf(a.stdout, "\nChange with 'aegir service set %s %s KEY=VALUE' and 'aegir service unset %s %s KEY'.\n", server, svc.Type, server, svc.Type)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// putService writes svc back (check-and-set on its version) and shows it.
func (a *app) putService(ctx context.Context, c *api, raw []byte, svc *domain.Service, server, done string) error {
	// Send back what the API sent, with the settings and port replaced,
	// so fields this client does not know survive.
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return err
	}
	body["settings"] = svc.Settings
	if svc.Port != 0 {
		body["port"] = svc.Port
	}
	var out domain.Service
	if _, err := c.do(ctx, http.MethodPut, c.path("services", svc.ID), nil, body, &out); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, sanitize(done))
	fmt.Fprintf(a.stdout, "Check it with 'aegir server verify %s -wait'.\n", server)
	return nil
}

func serviceSet(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	port := fs.Int("port", 0, "the service's port (default: unchanged)")
	pos, err := a.parse(fs, args, 2, -1)
	if err != nil {
		return err
	}
	if *port < 0 || *port > 65535 {
		return usagef("-port must be between 1 and 65535")
	}
	if len(pos) == 2 && *port == 0 {
		return usagef("nothing to set: give KEY=VALUE arguments or -port; 'aegir service show %s %s' lists the keys", pos[0], pos[1])
	}
	set := map[string]string{}
	for _, kv := range pos[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("%q is not KEY=VALUE (to remove a key use 'aegir service unset')", kv)
		}
		set[k] = v
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	svc, raw, server, err := findService(ctx, c, pos[0], pos[1])
	if err != nil {
		return err
	}
	if svc.Settings == nil {
		svc.Settings = map[string]string{}
	}
	for k, v := range set {
		svc.Settings[k] = v
	}
	if *port != 0 {
		svc.Port = *port
	}
	what := slices.Sorted(maps.Keys(set))
	if *port != 0 {
		what = append(what, "port")
	}
	return a.putService(ctx, c, raw, svc, server, fmt.Sprintf("Set %s of the %s service (%s) on %s.", strings.Join(what, ", "), svc.Type, svc.Kind, server))
}

func serviceUnset(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	pos, c, err := a.connect(fs, args, 3, -1)
	if err != nil {
		return err
	}
	svc, raw, server, err := findService(ctx, c, pos[0], pos[1])
	if err != nil {
		return err
	}
	var removed []string
	for _, k := range pos[2:] {
		if _, ok := svc.Settings[k]; !ok {
			fmt.Fprintf(a.stderr, "Note: %s is not set on the %s service of %s.\n", sanitize(k), svc.Type, server)
			continue
		}
		delete(svc.Settings, k)
		removed = append(removed, k)
	}
	if len(removed) == 0 {
		return nil
	}
	return a.putService(ctx, c, raw, svc, server, fmt.Sprintf("Removed %s from the %s service (%s) on %s.", strings.Join(removed, ", "), svc.Type, svc.Kind, server))
}

// serviceKinds lists the kinds this build knows and their settings. It
// reads the descriptors compiled in, so it needs no API.
func serviceKinds(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	pos, err := a.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	all := servicekind.All()
	if len(pos) == 1 {
		d, ok := servicekind.Lookup(servicekind.Kind(pos[0]))
		if !ok {
			return usagef("unknown service kind %q; the kinds are %s", pos[0], strings.Join(servicekind.Names(""), ", "))
		}
		all = []servicekind.Descriptor{d}
	}
	for i, d := range all {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		writeKind(a.stdout, d)
	}
	return nil
}

func writeKind(w io.Writer, d servicekind.Descriptor) {
	port := "none"
	if d.DefaultPort != 0 {
		port = strconv.Itoa(d.DefaultPort)
	}
	fmt.Fprintf(w, "%s (%s, default port %s): %s\n", d.Kind, d.Type, port, d.Summary)
	if len(d.Settings) == 0 {
		fmt.Fprintln(w, "  no settings")
		return
	}
	for _, s := range d.Settings {
		writeSetting(w, s, "", false, false)
	}
}

// writeSetting prints one setting as two lines: the key with its value
// (when withValue), whether it is required and its default, then its
// meaning, indented.
func writeSetting(w io.Writer, s servicekind.Setting, value string, set, withValue bool) {
	line := "  " + s.Key
	switch {
	case withValue && set:
		line += " = " + value
	case s.Required:
		line += " (required"
		if withValue {
			line += ", not set"
		}
		line += ")"
	case s.Default != "":
		line += " (default: " + s.Default + ")"
	case withValue:
		line += " (not set)"
	}
	fmt.Fprintln(w, sanitize(line))
	fmt.Fprintf(w, "      %s\n", sanitize(s.Meaning))
}

// settingList is a repeatable KEY=VALUE flag: -http-set config_dir=/etc/nginx.
// Unlike stringList it never splits on commas, which values may hold
// (mariadb's user_hosts).
type settingList map[string]string

func (l settingList) String() string { return "" }

func (l settingList) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", kv)
	}
	l[k] = v
	return nil
}
