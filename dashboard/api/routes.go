package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// route is one API route and its description in the OpenAPI document. The
// table below is the single source of both, and openapi_test.go checks the
// app's registered routes against the document.
type route struct {
	method  string
	path    string // under /api/v1, in Fiber syntax (:id)
	handler fiber.Handler
	op      operation
}

// operation describes a route for the OpenAPI document.
type operation struct {
	tag     string
	summary string
	public  bool     // no bearer token needed
	query   []string // query parameters
	body    any      // request body (a value of its type), nil for none
	status  int      // success status
	resp    any      // success body (a value of its type), nil for none
	stream  bool     // may answer text/event-stream
	// queueToken: a queue user's token (role queue) may call it; every
	// other route refuses such tokens (auth.go).
	queueToken bool
}

var listQuery = []string{"limit", "offset"}

func withPaging(q ...string) []string { return append(q, listQuery...) }

func (s *Server) routes() []route {
	return append([]route{
		{"GET", "/health", s.health, operation{tag: "meta", summary: "Health for load balancers: 200 while this process can read its store, 503 when it cannot (the store read is shared by the requests of one second)", public: true, status: 200, resp: map[string]string{}}},
		{"GET", "/status", s.systemStatus, operation{tag: "meta", summary: "Every component this process depends on (store, dispatcher, Nomad, Redis, secrets, routing), checked at once: ok, degraded or down, with what was seen; whether this process leads; its version (admin)", status: 200, resp: SystemStatus{}}},
		{"GET", "/openapi.json", s.openAPI, operation{tag: "meta", summary: "This OpenAPI 3 document", public: true, status: 200, resp: map[string]any{}}},
		{"GET", "/whoami", s.whoami, operation{tag: "meta", summary: "The authenticated user", status: 200, resp: domain.User{}}},

		{"GET", "/clients", s.listClients, operation{tag: "clients", summary: "List clients (a client user sees their own)", query: listQuery, status: 200, resp: List[domain.Client]{}}},
		{"POST", "/clients", requireAdminWrite("create clients", s.createClient), operation{tag: "clients", summary: "Create a client (admin)", body: apiv1.ClientCreate{}, status: 201, resp: domain.Client{}}},
		{"GET", "/quota-defaults", requireAdminWrite("read the quota defaults", s.getQuotaDefaults), operation{tag: "clients", summary: "Every client's default quotas: the configuration's, those an admin set over them, and the result (admin)", status: 200, resp: apiv1.QuotaDefaults{}}},
		{"PUT", "/quota-defaults", requireAdminWrite("change the quota defaults", s.setQuotaDefaults), operation{tag: "clients", summary: "Set the default quotas over the configuration's (admin; check-and-set on version, 0 when never set)", body: apiv1.QuotaDefaultsUpdate{}, status: 200, resp: apiv1.QuotaDefaults{}}},
		{"GET", "/clients/:id/quota", s.getClientQuota, operation{tag: "clients", summary: "A client's quotas (defaults, its overrides, the limits that apply; 0 is no limit) and what it holds of each", status: 200, resp: apiv1.ClientQuota{}}},
		{"GET", "/clients/:id", s.getClient, operation{tag: "clients", summary: "Get a client", status: 200, resp: domain.Client{}}},
		{"PUT", "/clients/:id", requireAdminWrite("change clients", s.updateClient), operation{tag: "clients", summary: "Update a client (admin; check-and-set on version)", body: domain.Client{}, status: 200, resp: domain.Client{}}},
		{"DELETE", "/clients/:id", requireAdminWrite("delete clients", s.deleteClient), operation{tag: "clients", summary: "Delete a client that owns no sites (admin)", query: []string{"version"}, status: 204}},

		{"GET", "/servers", requireAdminList("servers", s.listServers), operation{tag: "servers", summary: "List servers (admin)", query: listQuery, status: 200, resp: List[domain.Server]{}}},
		{"POST", "/servers", requireAdminWrite("create servers", s.createServer), operation{tag: "servers", summary: "Create a server with its services; queues verify-server", body: apiv1.ServerCreate{}, status: 201, resp: apiv1.ServerCreated{}}},
		{"GET", "/servers/:id", RequireAdminEntity("server", s.getServer), operation{tag: "servers", summary: "Get a server (admin)", status: 200, resp: domain.Server{}}},
		{"PUT", "/servers/:id", RequireAdminEntity("server", s.updateServer), operation{tag: "servers", summary: "Update a server; queues verify-server (admin)", body: domain.Server{}, status: 200, resp: apiv1.ServerCreated{}}},
		{"DELETE", "/servers/:id", RequireAdminEntity("server", s.deleteServer), operation{tag: "servers", summary: "Delete an unused server and its services (admin)", query: []string{"version"}, status: 204}},
		{"POST", "/servers/:id/tasks", RequireAdminEntity("server", s.serverTask), operation{tag: "servers", summary: "Queue a server task (verify-server)", body: apiv1.TaskRequest{}, status: 202, resp: domain.Task{}}},

		{"GET", "/services", requireAdminList("services", s.listServices), operation{tag: "services", summary: "List services (admin)", query: withPaging("server_id"), status: 200, resp: List[domain.Service]{}}},
		{"POST", "/services", requireAdminWrite("create services", s.createService), operation{tag: "services", summary: "Add a service to a server (admin)", body: apiv1.ServiceCreate{}, status: 201, resp: domain.Service{}}},
		{"GET", "/services/:id", RequireAdminEntity("service", s.getService), operation{tag: "services", summary: "Get a service (admin)", status: 200, resp: domain.Service{}}},
		{"PUT", "/services/:id", RequireAdminEntity("service", s.updateService), operation{tag: "services", summary: "Update a service's port and settings (admin)", body: domain.Service{}, status: 200, resp: domain.Service{}}},
		{"DELETE", "/services/:id", RequireAdminEntity("service", s.deleteService), operation{tag: "services", summary: "Delete a service (admin)", query: []string{"version"}, status: 204}},
		{"GET", "/service-kinds", s.serviceKinds, operation{tag: "services", summary: "The service kinds this build has drivers for, with every setting each reads: meaning, default, required", query: listQuery, status: 200, resp: List[apiv1.ServiceKind]{}}},
		{"PUT", "/services/:id/credentials", RequireAdminEntity("service", s.putCredentials), operation{tag: "services", summary: "Store a database service's admin credentials in the secrets backend (never echoed)", body: apiv1.Credentials{}, status: 204}},

		{"GET", "/platforms", s.listPlatforms, operation{tag: "platforms", summary: "List platforms", query: withPaging("web_server_id", "status"), status: 200, resp: List[domain.Platform]{}}},
		{"POST", "/platforms", requireAdminWrite("create platforms", s.createPlatform), operation{tag: "platforms", summary: "Create a platform; queues verify-platform (admin)", body: apiv1.PlatformCreate{}, status: 201, resp: apiv1.PlatformCreated{}}},
		{"GET", "/platforms/:id", s.getPlatform, operation{tag: "platforms", summary: "Get a platform", status: 200, resp: domain.Platform{}}},
		{"POST", "/platforms/:id/tasks", requireAdminWrite("run platform tasks", s.platformTask), operation{tag: "platforms", summary: "Queue a platform task: verify-platform, import, lock, unlock, delete (admin)", body: apiv1.TaskRequest{}, status: 202, resp: domain.Task{}}},

		{"GET", "/sites", s.listSites, operation{tag: "sites", summary: "List sites, sorted by domain", query: withPaging("q", "status", "platform_id", "client_id", "server_id"), status: 200, resp: List[domain.Site]{}}},
		{"POST", "/sites", s.createSite, operation{tag: "sites", summary: "Create a site; queues install (with from_backup: bring a deleted site back from one of its backups)", body: apiv1.SiteCreate{}, status: 201, resp: apiv1.SiteCreated{}}},
		{"POST", "/sites/import", s.importSite, operation{tag: "sites", summary: "Make a site from a backup archive sent as the body (application/octet-stream, streamed to disk, at most max_import_mb); checked entry by entry before anything is written; queues install from it", query: []string{"domain", "platform", "platform_id", "db_server", "db_server_id", "client", "client_id"}, status: 201, resp: apiv1.SiteCreated{}}},
		{"GET", "/sites/:id", s.GetSite, operation{tag: "sites", summary: "Get a site by id or by domain", status: 200, resp: domain.Site{}}},
		{"PUT", "/sites/:id", s.updateSite, operation{tag: "sites", summary: "Update a site's aliases, redirect flag, client or profile; queues verify", body: domain.Site{}, status: 200, resp: apiv1.SiteCreated{}}},
		{"PUT", "/sites/:id/certificate", s.putSiteCertificate, operation{tag: "sites", summary: "Upload the site's certificate (chain and key, PEM; checked: chain, key match, names, expiry); queues verify to serve it", body: apiv1.CertificateUpload{}, status: 202, resp: domain.Task{}}},
		{"POST", "/sites/:id/tasks", s.siteTask, operation{tag: "sites", summary: "Queue a site task: backup, restore, disable, enable, verify, clone, migrate, delete, install, rotate-credentials", body: apiv1.TaskRequest{}, status: 202, resp: domain.Task{}}},
		{"GET", "/sites/:id/backups", s.siteBackups, operation{tag: "sites", summary: "List a site's backups, newest first", query: listQuery, status: 200, resp: List[domain.Backup]{}}},

		{"GET", "/audit", s.listAudit, operation{tag: "audit", summary: "List the audit log, newest first: everything for an admin, the entries about their own clients' objects for a client user", query: withPaging("user", "client", "kind", "object", "action", "since", "until"), status: 200, resp: List[domain.AuditEntry]{}}},
		{"GET", "/tasks", s.listTasks, operation{tag: "tasks", summary: "List tasks, newest first (parent: the child tasks of a batch such as migrate-sites)", query: withPaging("status", "type", "target_kind", "target_id", "parent"), status: 200, resp: List[domain.Task]{}}},
		{"GET", "/tasks/:id", s.GetTask, operation{tag: "tasks", summary: "Get a task", status: 200, resp: domain.Task{}}},
		{"POST", "/tasks/:id/cancel", s.cancelTask, operation{tag: "tasks", summary: "Cancel a task: 200 with the cancelled task if it was queued, 202 if a running task is being stopped", status: 200, resp: domain.Task{}}},
		{"POST", "/tasks/:id/retry", s.retryTask, operation{tag: "tasks", summary: "Queue a new task like a failed or cancelled one", status: 202, resp: domain.Task{}}},
		{"GET", "/tasks/:id/log", s.TaskLog, operation{tag: "tasks", summary: "A task's log; with follow=1 or Accept: text/event-stream a live SSE stream (id per line, honours Last-Event-ID, event end)", query: []string{"after", "follow"}, status: 200, resp: LogPage{}, stream: true}},

		{"GET", "/packages", s.listPackages, operation{tag: "packages", summary: "List packages", query: listQuery, status: 200, resp: List[domain.Package]{}}},
		{"GET", "/releases", s.listReleases, operation{tag: "packages", summary: "List package releases", query: withPaging("package_id"), status: 200, resp: List[domain.PackageRelease]{}}},
		{"GET", "/instances", s.listInstances, operation{tag: "packages", summary: "List package instances", query: withPaging("target_kind", "target_id"), status: 200, resp: List[domain.PackageInstance]{}}},
		{"GET", "/backups", s.listBackups, operation{tag: "backups", summary: "List backups, newest first", query: withPaging("site_id"), status: 200, resp: List[domain.Backup]{}}},

		{"GET", "/users", requireAdminList("users", s.listUsers), operation{tag: "users", summary: "List users (admin)", query: listQuery, status: 200, resp: List[domain.User]{}}},
		{"POST", "/users", requireAdminWrite("create users", s.createUser), operation{tag: "users", summary: "Create a user (admin)", body: apiv1.UserCreate{}, status: 201, resp: domain.User{}}},
		{"GET", "/users/:id", RequireAdminEntity("user", s.getUser), operation{tag: "users", summary: "Get a user (admin)", status: 200, resp: domain.User{}}},
		{"PUT", "/users/:id", RequireAdminEntity("user", s.updateUser), operation{tag: "users", summary: "Update a user (admin)", body: apiv1.UserUpdate{}, status: 200, resp: domain.User{}}},
		{"DELETE", "/users/:id", RequireAdminEntity("user", s.deleteUser), operation{tag: "users", summary: "Delete a user and their tokens (admin)", query: []string{"version"}, status: 204}},

		{"GET", "/tokens", s.listTokens, operation{tag: "tokens", summary: "List your tokens (an admin: everyone's, or ?user_id=)", query: withPaging("user_id"), status: 200, resp: List[domain.Token]{}}},
		{"POST", "/tokens", s.createToken, operation{tag: "tokens", summary: "Create a token; the secret is shown only in this answer", body: apiv1.TokenCreate{}, status: 201, resp: apiv1.TokenCreated{}}},
		{"DELETE", "/tokens/:id", s.deleteToken, operation{tag: "tokens", summary: "Revoke a token", status: 204}},
	}, append(s.queueRoutes(), s.notificationRoutes()...)...)
}

// RouteInfo describes one API route: its method, its path under Prefix in
// Fiber syntax (:id), and who may call it.
type RouteInfo struct {
	Method     string
	Path       string
	Public     bool // no bearer token needed
	QueueToken bool // a queue user's token may call it
}

// Routes lists the API's routes, in the order of the route table.
func (s *Server) Routes() []RouteInfo {
	rs := s.routes()
	out := make([]RouteInfo, len(rs))
	for i, r := range rs {
		out[i] = RouteInfo{Method: r.method, Path: r.path, Public: r.op.public, QueueToken: r.op.queueToken}
	}
	return out
}
