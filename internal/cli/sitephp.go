package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// phpFlag is -php KEY=VALUE[,KEY=VALUE...], repeatable: a site's own
// php-fpm pool limits (domain.SitePHP). Keys are memory_limit and
// upload_max (MiB, or with a unit: 256M, 1G) and max_children; the value
// default (or nothing) gives the limit back to the web service's setting.
// The CLI checks only the form; the API judges the bounds and names the
// field it refuses.
type phpFlag struct {
	set  map[string]int // key -> value; 0 is the service's
	keys []string       // in the order given, for messages
}

var phpKeys = []string{"memory_limit", "upload_max", "max_children"}

const phpFlagUsage = "a php-fpm limit of the site's own pool, KEY=VALUE: memory_limit=256M, upload_max=64M, max_children=8 (default: the web service's); repeat or separate with commas"

func (f *phpFlag) String() string {
	if f == nil {
		return ""
	}
	var out []string
	for _, k := range f.keys {
		out = append(out, fmt.Sprintf("%s=%d", k, f.set[k]))
	}
	return strings.Join(out, ",")
}

func (f *phpFlag) Set(v string) error {
	for _, kv := range strings.Split(v, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok {
			return fmt.Errorf("%q is not KEY=VALUE (keys: %s)", kv, strings.Join(phpKeys, ", "))
		}
		n, err := phpValue(k, val)
		if err != nil {
			return err
		}
		if f.set == nil {
			f.set = map[string]int{}
		}
		if _, dup := f.set[k]; !dup {
			f.keys = append(f.keys, k)
		}
		f.set[k] = n
	}
	return nil
}

// phpValue parses one limit: a size in MiB (a bare number, or with M or
// G) for memory_limit and upload_max, a count for max_children; default
// or "" is 0.
func phpValue(k, v string) (int, error) {
	known := false
	for _, p := range phpKeys {
		known = known || p == k
	}
	if !known {
		return 0, fmt.Errorf("unknown php setting %q: the keys are %s", k, strings.Join(phpKeys, ", "))
	}
	if v == "" || v == "default" {
		return 0, nil
	}
	mult := 1
	if k != "max_children" {
		switch {
		case strings.HasSuffix(v, "M"), strings.HasSuffix(v, "m"):
			v = v[:len(v)-1]
		case strings.HasSuffix(v, "G"), strings.HasSuffix(v, "g"):
			v, mult = v[:len(v)-1], 1024
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || strings.HasPrefix(v, "+") {
		if k == "max_children" {
			return 0, fmt.Errorf("php %s=%q: give a whole number of workers, or default", k, v)
		}
		return 0, fmt.Errorf("php %s=%q: give a size in MiB such as 256M or 1G, or default", k, v)
	}
	if n > 1<<20 { // far beyond every bound; keeps n*mult from overflowing
		n = 1 << 20
	}
	return n * mult, nil
}

// apply sets the given limits on p (nil: none yet) and returns the
// result, nil when every limit is the service's.
func (f *phpFlag) apply(p *domain.SitePHP) *domain.SitePHP {
	out := domain.SitePHP{}
	if p != nil {
		out = *p
	}
	for k, n := range f.set {
		switch k {
		case "memory_limit":
			out.MemoryLimit = n
		case "upload_max":
			out.UploadMax = n
		case "max_children":
			out.MaxChildren = n
		}
	}
	if out == (domain.SitePHP{}) {
		return nil
	}
	return &out
}

// phpSummary is a site's pool limits for site show.
func phpSummary(p *domain.SitePHP) string {
	if p == nil {
		return "the web service's"
	}
	part := func(k string, n int, unit string) string {
		if n == 0 {
			return k + " the service's"
		}
		return fmt.Sprintf("%s %d%s", k, n, unit)
	}
	return strings.Join([]string{part("memory_limit", p.MemoryLimit, "M"), part("upload_max", p.UploadMax, "M"),
		part("max_children", p.MaxChildren, "")}, ", ")
}
