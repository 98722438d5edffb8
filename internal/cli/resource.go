package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// resource is a collection of the API as the CLI sees it. One value per
// noun yields the noun's list, show and delete commands (list, show,
// remove), and lets every other command find an item by id or name (find,
// idOf, label) and show ids by name (names).
//
// Only noun and collection are always needed; the other fields serve the
// commands that use them: list needs header and rows, show details, and
// find (so show, idOf, label and remove) byPath or ref.
type resource[T any] struct {
	noun       string // "site": the word in messages ("no site with id or name ...", "of 120 sites")
	collection string // "sites": the API's path

	// byPath: the API takes any reference, id or name, in the path (a
	// site's domain, a task id, a queue name), so find only reads it.
	// Otherwise the API addresses items by id only, and find looks a name
	// up in the list.
	byPath bool
	// ref returns an item's name, id and version: for find by name, idOf,
	// label, names and remove, which only resources with ref offer.
	ref func(*T) entityRef

	// filters, when set, declares the list's filter flags; the function it
	// returns adds them to the request, resolving names through the API.
	filters func(fs *flag.FlagSet) func(ctx context.Context, c *api, l *listRequest) error
	// unpaged: the API answers with the whole collection, so the list has
	// no -limit and -offset and no more-pages hint (backups).
	unpaged bool
	// flagItems names the items in the help of -limit and -offset ("sites":
	// "at most this many sites"); "" words it without them.
	flagItems string
	header    []string // the list's table header
	// rows returns the function making the table row of one item. It runs
	// only for a page with items, so it may first read, best effort, the
	// names its rows show instead of ids.
	rows func(ctx context.Context, c *api) func(*T) []string

	// details prints one item for show (the JSON is printed without it).
	details func(ctx context.Context, a *app, c *api, x *T) error
}

// entityRef is what names an item: its name (for lookups, confirmations and
// messages), its id and the version read (deletes are conditional on it).
type entityRef struct {
	name, id string
	version  uint64
}

// plainRows is a rows function for tables that need nothing but the item.
func plainRows[T any](row func(*T) []string) func(context.Context, *api) func(*T) []string {
	return func(context.Context, *api) func(*T) []string { return row }
}

// find reads an item by id or name (see ref). It returns the item and its
// JSON as the API sent it.
func (r *resource[T]) find(ctx context.Context, c *api, ref string) (*T, []byte, error) {
	if r.byPath {
		var v T
		raw, err := c.get(ctx, c.path(r.collection, ref), nil, &v)
		if err != nil {
			return nil, nil, err
		}
		return &v, raw, nil
	}
	if ref == "" {
		return nil, nil, usagef("empty %s name", r.noun)
	}
	if domain.ValidID(ref) {
		var v T
		raw, err := c.get(ctx, c.path(r.collection, ref), nil, &v)
		if err == nil {
			return &v, raw, nil
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
			return nil, nil, err
		}
		// An id-shaped name: look it up by name below.
	}
	raws, err := listAll[json.RawMessage](ctx, c, c.path(r.collection), nil)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(raws))
	for _, raw := range raws {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, err
		}
		if r.ref(&v).name == ref {
			return &v, raw, nil
		}
		names = append(names, r.ref(&v).name)
	}
	// A near name is a typo: a usage error that says what was meant.
	if s := Suggest(ref, names); s != "" {
		return nil, nil, usagef("no %s named %q; did you mean %q? (see 'aegir %s list')", r.noun, ref, s, r.noun)
	}
	return nil, nil, notFound(r.noun, ref)
}

// idOf finds an item by id or name and returns its id.
func (r *resource[T]) idOf(ctx context.Context, c *api, ref string) (string, error) {
	x, _, err := r.find(ctx, c, ref)
	if err != nil {
		return "", err
	}
	return r.ref(x).id, nil
}

// idFinder is a resource as a command uses it to turn a name into an id.
type idFinder interface {
	idOf(ctx context.Context, c *api, ref string) (string, error)
}

// refFlag is a flag naming an item by id or name, and the key its id goes
// under in a query or body.
type refFlag struct {
	key, ref string
	r        idFinder
}

// idsOf resolves the given refs, in order, into key → id; an empty ref is
// left out.
func idsOf(ctx context.Context, c *api, refs ...refFlag) (map[string]string, error) {
	ids := map[string]string{}
	for _, f := range refs {
		if f.ref == "" {
			continue
		}
		id, err := f.r.idOf(ctx, c, f.ref)
		if err != nil {
			return nil, err
		}
		ids[f.key] = id
	}
	return ids, nil
}

// label is "name (id)" for show, or just id when the item cannot be read.
func (r *resource[T]) label(ctx context.Context, c *api, id string) string {
	x, _, err := r.find(ctx, c, id)
	if err != nil {
		return id
	}
	e := r.ref(x)
	return e.name + " (" + e.id + ")"
}

// names maps ids to names for tables, best effort: an item the user may
// not read is shown by id. Errors leave it empty.
func (r *resource[T]) names(ctx context.Context, c *api) names {
	out := names{}
	items, err := listAll[T](ctx, c, c.path(r.collection), nil)
	if err != nil {
		return out
	}
	for i := range items {
		e := r.ref(&items[i])
		out[e.id] = e.name
	}
	return out
}

// names maps ids to names; see resource.names.
type names map[string]string

func (n names) of(id string) string {
	if name, ok := n[id]; ok && name != "" {
		return name
	}
	return id
}

// list is "<noun> list [filters] [-limit N] [-offset N] [-json]": a page
// of the collection as a table, or as the API's JSON, with a hint on
// stderr when there are more pages (unpaged: the whole collection, without
// -limit, -offset or hint).
func (r *resource[T]) list(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	var filter func(context.Context, *api, *listRequest) error
	if r.filters != nil {
		filter = r.filters(fs)
	}
	var lf listOpts
	if r.unpaged {
		lf.asJSON = jsonFlag(fs)
	} else {
		lf = listFlags(fs, r.flagItems)
	}
	_, c, err := a.connect(fs, args, 0, 0)
	if err != nil {
		return err
	}
	l := &listRequest{path: []string{r.collection}, q: url.Values{}}
	if filter != nil {
		if err := filter(ctx, c, l); err != nil {
			return err
		}
	}
	if !r.unpaged {
		l.q.Set("limit", strconv.Itoa(*lf.limit))
		l.q.Set("offset", strconv.Itoa(*lf.offset))
	}
	var p page[T]
	raw, err := c.get(ctx, c.path(l.path...), l.q, &p)
	if err != nil {
		return err
	}
	if *lf.asJSON {
		return a.printJSON(raw)
	}
	t := newTable(a.stdout, slices.Clone(r.header)...)
	if len(p.Items) > 0 {
		row := r.rows(ctx, c)
		for i := range p.Items {
			t.row(row(&p.Items[i])...)
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	switch {
	case len(p.Items) == 0 && p.Offset > 0 && p.Total > 0:
		fmt.Fprintf(a.stderr, "Nothing past -offset %d: there are %s.\n", p.Offset, plural(p.Total, r.noun))
	case len(p.Items) == 0:
		// On stderr, like the paging hint: a script reading stdout gets
		// the header and no rows.
		fmt.Fprintf(a.stderr, "No %s.\n", plurals(r.noun))
	case !r.unpaged:
		a.more(p.Offset, len(p.Items), p.Total, r.noun)
	}
	return nil
}

// listRequest is what a list reads: the path under the API (default the
// collection) and the query. Filters may change both.
type listRequest struct {
	path []string
	q    url.Values
}

// listOpts are the paging and output flags of list commands.
type listOpts struct {
	limit, offset *int
	asJSON        *bool
}

// listFlags declares -limit, -offset and -json; items, when not "", names
// the items in their help.
func listFlags(fs *flag.FlagSet, items string) listOpts {
	if items != "" {
		items = " " + items
	}
	return listOpts{
		limit:  fs.Int("limit", 50, "at most this many"+items+" (API maximum 1000)"),
		offset: fs.Int("offset", 0, "skip this many"+items),
		asJSON: jsonFlag(fs),
	}
}

// jsonFlag declares -json, which every read command has.
func jsonFlag(fs *flag.FlagSet) *bool { return fs.Bool("json", false, "print the API's JSON") }

// more tells people that a list has more pages.
func (a *app) more(offset, shown, total int, word string) {
	if total > offset+shown {
		fmt.Fprintf(a.stderr, "Showing %d-%d of %s; use -offset %d for more.\n", offset+1, offset+shown, plural(total, word), offset+shown)
	}
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// show is "<noun> show REF [-json]": one item, as details prints it or as
// the API's JSON.
func (r *resource[T]) show(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	asJSON := jsonFlag(fs)
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	x, raw, err := r.find(ctx, c, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	return r.details(ctx, a, c, x)
}

// remove is "<noun> delete NAME|ID [-yes]": find the item, ask to type its
// name (or -yes), delete it at the version read. what is the confirmation's
// action, with %s for the name.
func (r *resource[T]) remove(what string) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		fs := a.flags()
		yes := fs.Bool("yes", false, "do not ask for confirmation")
		pos, c, err := a.connect(fs, args, 1, 1)
		if err != nil {
			return err
		}
		x, _, err := r.find(ctx, c, pos[0])
		if err != nil {
			return err
		}
		e := r.ref(x)
		if err := a.confirm(*yes, fmt.Sprintf(what, e.name), e.name); err != nil {
			return err
		}
		if err := c.deleteVersioned(ctx, r.collection, e.id, e.version); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s%s %s deleted.\n", strings.ToUpper(r.noun[:1]), r.noun[1:], sanitize(e.name))
		return nil
	}
}

// deleteVersioned deletes an entity at the version the client last read:
// DELETE /<collection>/{id}?version=N.
func (c *api) deleteVersioned(ctx context.Context, collection, id string, version uint64) error {
	_, err := c.do(ctx, http.MethodDelete, c.path(collection, id), url.Values{"version": {strconv.FormatUint(version, 10)}}, nil, nil)
	return err
}

// withChanges is what the API sent (raw, a JSON object) with change's
// fields replaced: an edit sends it back, so fields this client does not
// know survive.
func withChanges(raw []byte, change map[string]string) (map[string]any, error) {
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, err
	}
	for k, v := range change {
		body[k] = v
	}
	return body, nil
}
