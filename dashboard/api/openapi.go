package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
)

// The OpenAPI document is built from the route table (routes.go) and the
// Go types of each request and response, so the schemas follow the JSON
// tags of the domain structs exactly.

func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(s.docB)
}

var paramDocs = map[string]string{
	"limit":         "page size, default 50, at most 1000",
	"offset":        "items to skip",
	"version":       "the version you read; a stale one gives 409 conflict",
	"q":             "substring of the domain or an alias",
	"status":        "only entities in this status",
	"after":         "return lines after this line id",
	"follow":        "1: stream as server-sent events",
	"platform_id":   "only sites on this platform",
	"client_id":     "only sites of this client",
	"server_id":     "only what is on this server",
	"web_server_id": "only platforms on this web server",
	"type":          "only tasks of this type",
	"target_kind":   "site, platform or server",
	"target_id":     "only what concerns this entity",
	"site_id":       "only backups of this site",
	"package_id":    "only releases of this package",
	"user_id":       "only tokens of this user (admins)",
}

var pathParamDocs = map[string]string{
	"id":   "entity id (sites: also the domain or an alias; queues: the name)",
	"pass": "a pass id, as POST /queues/{id}/run answered",
}

func (s *Server) buildOpenAPI() ([]byte, error) {
	g := &schemaGen{components: map[string]any{}}
	g.components["Error"] = g.schema(reflect.TypeOf(ErrorBody{}))
	errResp := map[string]any{
		"description": "error; see error.code",
		"content":     map[string]any{"application/json": map[string]any{"schema": ref("Error")}},
	}
	paths := map[string]map[string]any{}
	for _, r := range s.routes() {
		p := openAPIPath(Prefix + r.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		o := r.op
		var params []any
		for _, seg := range strings.Split(r.path, "/") {
			if name, ok := strings.CutPrefix(seg, ":"); ok {
				params = append(params, map[string]any{
					"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"},
					"description": pathParamDocs[name],
				})
			}
		}
		for _, q := range o.query {
			params = append(params, map[string]any{
				"name": q, "in": "query", "schema": map[string]any{"type": "string"}, "description": paramDocs[q],
			})
		}
		ok := map[string]any{"description": strconv.Itoa(o.status)}
		if o.resp != nil {
			content := map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(o.resp))}}
			if o.stream {
				content["text/event-stream"] = map[string]any{"schema": map[string]any{"type": "string"}}
			}
			ok["content"] = content
		}
		op := map[string]any{
			"summary":     o.summary,
			"tags":        []string{o.tag},
			"operationId": strings.ToLower(r.method) + strings.NewReplacer("/", "_", ":", "", ".", "_").Replace(r.path),
			"responses":   map[string]any{strconv.Itoa(o.status): ok, "default": errResp},
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if o.public {
			op["security"] = []any{}
		}
		if o.queueToken {
			op["description"] = "Besides admins, a queue user's token (role queue, as the Nomad aegir-queue jobs have) may call this; such tokens get 403 forbidden everywhere else."
		}
		if o.body != nil {
			op["requestBody"] = map[string]any{
				"required": true,
				"content":  map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(o.body))}},
			}
		}
		method := strings.ToLower(r.method)
		if _, dup := paths[p][method]; dup {
			return nil, fmt.Errorf("dashboard: route %s %s registered twice", r.method, p)
		}
		paths[p][method] = op
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "aegir API",
			"version": "1",
			"description": "The aegir hosting control plane. Errors are {\"error\": {\"code\", \"message\", \"field\"}} " +
				"with codes invalid, malformed_json, unknown_field (400), unauthorized (401), forbidden (403), not_found (404), " +
				"method_not_allowed (405), conflict, duplicate, illegal_transition (409), too_large (413), internal (500), unavailable, store_unavailable, bus_unavailable (503).",
		},
		"servers":    []any{map[string]any{"url": "/"}},
		"security":   []any{map[string]any{"bearer": []string{}}},
		"paths":      paths,
		"components": map[string]any{"schemas": g.components, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// openAPIPath turns Fiber's /sites/:id into OpenAPI's /sites/{id}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if name, ok := strings.CutPrefix(part, ":"); ok {
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}

func ref(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

// schemaGen turns Go types into OpenAPI schemas; named struct types become
// components referenced by name.
type schemaGen struct {
	components map[string]any
}

var timeType = reflect.TypeOf(time.Time{})

// hiddenFields are struct fields the API clears before answering, so the
// document does not describe them.
var apiv1Pkg = reflect.TypeOf(apiv1.SiteCreate{}).PkgPath()

// earlierNames are the schema names internal/apiv1 types had before they
// moved there, so the document keeps them: the status view's types, which
// the API declared exported, and the queue types of scheduler/queue.
var earlierNames = map[string]string{
	"SystemStatus": "SystemStatus", "ComponentStatus": "ComponentStatus",
	"QueueStatus": "Status", "QueueSettings": "Settings", "QueueRetention": "Retention",
	"QueueFailingSite": "FailingSite", "QueueRun": "Run", "PassReport": "PassReport",
	"StatsPoint": "Point", "CronOutput": "Output",
}

var hiddenFields = map[string]bool{"User.password_hash": true, "Token.hash": true}

// adminOnlyFields are the fields only admins are given, with what the
// document says about them; internal/control leaves them out of what
// other users are shown (a platform's path), or shows their entity only
// to admins (servers and services).
var adminOnlyFields = map[string]string{
	"Platform.path":    "Admin only: the platform's directory on its web server; left out for client users.",
	"Backup.path":      "Admin only: where the archive lies on its server; left out for client users (they download it: GET /backups/{id}/download).",
	"Server.address":   "Admin only (servers are admins'): the IP address or host name, normalised (lowercase, punycode).",
	"Service.settings": "Admin only (services are admins'): the driver's settings, as internal/servicekind declares them for the kind.",
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		return g.schema(t.Elem())
	}
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := schemaName(t)
		if _, ok := g.components[name]; !ok {
			g.components[name] = map[string]any{} // break cycles
			g.components[name] = g.structSchema(t)
		}
		return ref(name)
	}
	return map[string]any{}
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		if hiddenFields[t.Name()+"."+name] {
			continue
		}
		prop := g.schema(f.Type)
		if d, ok := adminOnlyFields[t.Name()+"."+name]; ok {
			prop["description"] = d
		}
		props[name] = prop
	}
	// No "required": the same types serve as request bodies (where the
	// server fills in what is missing) and as responses.
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}

// schemaName names a struct type's component: Site, List_Site, siteCreate.
// The request and answer types of internal/apiv1 keep the lower-case
// names they had when the API declared them itself, and those in
// earlierNames the names they had before.
func schemaName(t reflect.Type) string {
	n := t.Name()
	if t.PkgPath() == apiv1Pkg && n != "" {
		if earlier, ok := earlierNames[n]; ok {
			n = earlier
		} else {
			n = strings.ToLower(n[:1]) + n[1:]
		}
	}
	if i := strings.IndexByte(n, '['); i >= 0 {
		// List[github.com/.../domain.Site] → List_Site
		inner := n[i+1 : len(n)-1]
		inner = inner[strings.LastIndexByte(inner, '.')+1:]
		n = n[:i] + "_" + inner
	}
	return n
}
