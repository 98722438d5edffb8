package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/aegirhq/aegir/internal/domain"
)

// resolve finds an entity of a collection by id or by name. The API
// addresses these collections by id only, so a name is looked up in the
// list. It returns the entity and its JSON as the API sent it.
func resolve[T any](ctx context.Context, c *api, collection, kind, ref string, nameOf func(*T) string) (*T, []byte, error) {
	if ref == "" {
		return nil, nil, usagef("empty %s name", kind)
	}
	if domain.ValidID(ref) {
		var v T
		raw, err := c.get(ctx, c.path(collection, ref), nil, &v)
		if err == nil {
			return &v, raw, nil
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
			return nil, nil, err
		}
		// An id-shaped name: look it up by name below.
	}
	raws, err := listAll[json.RawMessage](ctx, c, c.path(collection), nil)
	if err != nil {
		return nil, nil, err
	}
	for _, raw := range raws {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, err
		}
		if nameOf(&v) == ref {
			return &v, raw, nil
		}
	}
	return nil, nil, notFound(kind, ref)
}

func clientName(v *domain.Client) string     { return v.Name }
func serverName(v *domain.Server) string     { return v.Name }
func platformName(v *domain.Platform) string { return v.Name }
func userName(v *domain.User) string         { return v.Name }

func (c *api) findClient(ctx context.Context, ref string) (*domain.Client, []byte, error) {
	return resolve(ctx, c, "clients", "client", ref, clientName)
}

func (c *api) findServer(ctx context.Context, ref string) (*domain.Server, []byte, error) {
	return resolve(ctx, c, "servers", "server", ref, serverName)
}

func (c *api) findPlatform(ctx context.Context, ref string) (*domain.Platform, []byte, error) {
	return resolve(ctx, c, "platforms", "platform", ref, platformName)
}

func (c *api) findUser(ctx context.Context, ref string) (*domain.User, []byte, error) {
	return resolve(ctx, c, "users", "user", ref, userName)
}

// site finds a site by id or domain; the API takes either in the path.
func (c *api) findSite(ctx context.Context, ref string) (*domain.Site, []byte, error) {
	var s domain.Site
	raw, err := c.get(ctx, c.path("sites", ref), nil, &s)
	if err != nil {
		return nil, nil, err
	}
	return &s, raw, nil
}

// names maps ids to names for tables, best effort: an entity the user may
// not read is shown by id.
type names map[string]string

func (n names) of(id string) string {
	if name, ok := n[id]; ok && name != "" {
		return name
	}
	return id
}

// nameMap lists a collection and maps ids to names; errors leave it empty.
func nameMap[T any](ctx context.Context, c *api, collection string, idName func(*T) (string, string)) names {
	out := names{}
	items, err := listAll[T](ctx, c, c.path(collection), nil)
	if err != nil {
		return out
	}
	for i := range items {
		id, name := idName(&items[i])
		out[id] = name
	}
	return out
}
