package platform

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// types are the platform types, in the order forms and help list them.
// Detection tries them from the last to the first, the most specific
// first: a drupal tree may carry an aegir.hcl, and a php platform's
// docroot is often public/, which alone marks a static one.
var types = []Type{staticType{}, phpType{}, drupalType{}}

// Types returns every platform type, in the order forms and help list them.
func Types() []Type { return slices.Clone(types) }

// Names returns the names of Types.
func Names() []domain.PlatformType {
	out := make([]domain.PlatformType, len(types))
	for i, t := range types {
		out[i] = t.Name()
	}
	return out
}

// Lookup returns the type named name.
func Lookup(name domain.PlatformType) (Type, bool) {
	for _, t := range types {
		if t.Name() == name {
			return t, true
		}
	}
	return nil, false
}

// Choices lists the names for messages: "static, php or drupal".
func Choices() string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t.Name())
	}
	return orList(names)
}

// Detect returns the type of platform in dir.
func Detect(dir string) (Type, error) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s", ErrMissing, dir)
	}
	for _, t := range slices.Backward(types) {
		if t.Detect(dir) {
			return t, nil
		}
	}
	marks := make([]string, len(types))
	for i, t := range types {
		marks[i] = fmt.Sprintf("%s (%s)", t.Marker(), t.Name())
	}
	return nil, fmt.Errorf("%w in %s: expected %s", ErrUnknownType, dir, orList(marks))
}

// orList joins items as "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
