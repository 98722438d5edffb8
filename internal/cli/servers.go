package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/servicekind"
)

var serverNoun = &noun{
	name:    "server",
	summary: "Manage servers: machines with a web service and/or a database service. (The production server itself runs with 'aegir server run [flags]' or 'aegir server -config FILE'.)",
	verbs: []*verb{
		{name: "list", args: "[flags]", summary: "List servers.", run: serverResource.list,
			examples: []string{"aegir server list"}},
		{name: "show", args: "NAME|ID", summary: "Show a server and its services.", run: serverResource.show,
			examples: []string{"aegir server show web1"}},
		{name: "create", args: "NAME -address A [flags]", summary: "Create a server with its services and queue its verify-server task.", run: serverCreate,
			examples: []string{
				"aegir server create web1 -address 10.0.0.5 -nomad-node web1 -http nginx -db mariadb",
				"aegir server create web1 -address 127.0.0.1 -http nginx -http-set config_dir=/etc/nginx/sites-enabled -http-set main_config=/etc/nginx/nginx.conf -http-set php_fastcgi=unix:/run/php/php-fpm.sock -db mariadb -db-set socket=/run/mysqld/mysqld.sock",
				"aegir server create local -address 127.0.0.1 -http builtin -http-port 8481 -db sqlite",
			}},
		{name: "edit", args: "NAME|ID [-address A] [-nomad-node N] [-name NEW]", summary: "Change a server's address, Nomad node or name and queue its verify-server task (services: 'aegir service set').", run: serverEdit,
			examples: []string{"aegir server edit web1 -address 10.0.0.6", "aegir server edit web1 -nomad-node ''"}},
		{name: "verify", args: "NAME|ID [-wait]", summary: "Verify a server: check that its services answer.", run: serverVerify,
			examples: []string{"aegir server verify web1 -wait"}},
		{name: "delete", args: "NAME|ID [-yes]", summary: "Delete a server that nothing uses (asks to type its name, or -yes).", run: serverResource.remove("delete the server %s from aegir"),
			examples: []string{"aegir server delete web1", "aegir server delete web1 -yes"}},
		{name: "credentials", args: "NAME|ID -db-user U", summary: "Store the admin credentials of a server's database service; the password is read from stdin or prompted for.", run: serverCredentials,
			examples: []string{
				"aegir server credentials db1 -db-user aegir_root",
				"printf '%s' \"$DB_PASS\" | aegir server credentials db1 -db-user aegir_root",
			}},
	},
}

// The kinds "server create" offers: those this build has drivers for.
var (
	httpKinds = servicekind.Names(servicekind.HTTP)
	dbKinds   = servicekind.Names(servicekind.DB)
)

var serverResource = &resource[domain.Server]{
	noun: "server", collection: "servers",
	ref:    func(s *domain.Server) entityRef { return entityRef{s.Name, s.ID, s.Version} },
	header: []string{"ID", "NAME", "ADDRESS", "NOMAD NODE", "STATUS", "SERVICES"},
	rows: func(ctx context.Context, c *api) func(*domain.Server) []string {
		services, _ := listAll[domain.Service](ctx, c, c.path("services"), nil) // best effort
		return func(s *domain.Server) []string {
			return []string{s.ID, s.Name, s.Address, s.NomadNode, string(s.Status), serviceSummary(services, s.ID)}
		}
	},
	details: serverDetails,
}

// serviceSummary is "http/nginx:80,db/mariadb:3306" for a server.
func serviceSummary(all []domain.Service, serverID string) string {
	var parts []string
	for _, s := range all {
		if s.ServerID != serverID {
			continue
		}
		p := string(s.Type) + "/" + string(s.Kind)
		if s.Port != 0 {
			p += ":" + strconv.Itoa(s.Port)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ",")
}

// serverDetails shows a server with its services.
func serverDetails(ctx context.Context, a *app, c *api, s *domain.Server) error {
	services, err := listAll[domain.Service](ctx, c, c.path("services"), url.Values{"server_id": {s.ID}})
	if err != nil {
		return err
	}
	if err := a.fields(
		"ID", s.ID,
		"Name", s.Name,
		"Address", s.Address,
		"Nomad node", s.NomadNode,
		"Status", string(s.Status),
		"Created", when(s.CreatedAt),
		"Updated", when(s.UpdatedAt),
	); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "\nServices")
	t := newTable(a.stdout, "ID", "TYPE", "KIND", "PORT")
	for _, svc := range services {
		if svc.ServerID != s.ID {
			continue
		}
		port := ""
		if svc.Port != 0 {
			port = strconv.Itoa(svc.Port)
		}
		t.row(svc.ID, string(svc.Type), string(svc.Kind), port)
	}
	return t.flush()
}

func serverCreate(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	address := fs.String("address", "", "IP address or host name of the server (required)")
	nomadNode := fs.String("nomad-node", "", "the Nomad client node that runs tasks for this server (default: the local executor)")
	httpKind := fs.String("http", "", "web service: "+strings.Join(httpKinds, ", ")+" (default: none)")
	httpPort := fs.Int("http-port", 0, "port of the web service (default: the service's usual port)")
	dbKind := fs.String("db", "", "database service: "+strings.Join(dbKinds, ", ")+" (default: none)")
	dbPort := fs.Int("db-port", 0, "port of the database service (default: the service's usual port)")
	httpSet, dbSet := settingList{}, settingList{}
	fs.Var(httpSet, "http-set", "a setting of the web service, KEY=VALUE; repeat for more ('aegir service kinds' lists them)")
	fs.Var(dbSet, "db-set", "a setting of the database service, KEY=VALUE; repeat for more")
	tf := taskFlags(fs)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *address == "" {
		return usagef("server create needs -address")
	}
	if *httpKind != "" && !has(httpKinds, *httpKind) {
		return usagef("unknown -http %q; use %s", *httpKind, strings.Join(httpKinds, ", "))
	}
	if *dbKind != "" && !has(dbKinds, *dbKind) {
		return usagef("unknown -db %q; use %s", *dbKind, strings.Join(dbKinds, ", "))
	}
	for _, p := range []struct {
		name string
		v    int
		kind string
	}{{"-http-port", *httpPort, *httpKind}, {"-db-port", *dbPort, *dbKind}} {
		if p.v < 0 || p.v > 65535 {
			return usagef("%s must be between 1 and 65535", p.name)
		}
		if p.v != 0 && p.kind == "" {
			return usagef("%s needs %s", p.name, strings.TrimSuffix(p.name, "-port"))
		}
	}
	if len(httpSet) > 0 && *httpKind == "" {
		return usagef("-http-set needs -http")
	}
	if len(dbSet) > 0 && *dbKind == "" {
		return usagef("-db-set needs -db")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	services := []map[string]any{}
	if *httpKind != "" {
		services = append(services, service(*httpKind, *httpPort, httpSet))
	}
	if *dbKind != "" {
		services = append(services, service(*dbKind, *dbPort, dbSet))
	}
	body := map[string]any{"name": pos[0], "address": *address, "services": services}
	if *nomadNode != "" {
		body["nomad_node"] = *nomadNode
	}
	var out struct {
		Server *domain.Server `json:"server"`
		Task   *domain.Task   `json:"task"`
	}
	raw, err := c.post(ctx, c.path("servers"), body, &out)
	if err != nil {
		return err
	}
	done := "Server created."
	if out.Server != nil {
		done = fmt.Sprintf("Server %s created (id %s).", out.Server.Name, out.Server.ID)
	}
	return a.queued(ctx, c, tf, raw, out.Task, done)
}

func service(kind string, port int, settings map[string]string) map[string]any {
	s := map[string]any{"kind": kind}
	if port != 0 {
		s["port"] = port
	}
	if len(settings) > 0 {
		s["settings"] = settings
	}
	return s
}

func serverVerify(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	tf := taskFlags(fs)
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	s, _, err := serverResource.find(ctx, c, pos[0])
	if err != nil {
		return err
	}
	return a.queueTask(ctx, c, tf, "servers", s.ID, string(domain.TaskVerifyServer), nil)
}

func serverCredentials(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	user := fs.String("db-user", "", "the database admin user (required)")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *user == "" {
		return usagef("server credentials needs -db-user")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	s, _, err := serverResource.find(ctx, c, pos[0])
	if err != nil {
		return err
	}
	services, err := listAll[domain.Service](ctx, c, c.path("services"), url.Values{"server_id": {s.ID}})
	if err != nil {
		return err
	}
	var db *domain.Service
	for i := range services {
		if services[i].ServerID == s.ID && services[i].Type == domain.ServiceDB {
			db = &services[i]
		}
	}
	if db == nil {
		return &APIError{Status: http.StatusNotFound, Code: "not_found",
			Message: fmt.Sprintf("server %s has no database service; create one with 'aegir server create ... -db mariadb'", s.Name)}
	}
	password, err := a.readSecret(fmt.Sprintf("Password of %s on %s (%s): ", *user, s.Name, db.Kind))
	if err != nil {
		return err
	}
	body := map[string]string{"username": *user, "password": password}
	if _, err := c.do(ctx, http.MethodPut, c.path("services", db.ID, "credentials"), nil, body, nil); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Credentials of %s on %s stored.\n", *user, s.Name)
	return nil
}
