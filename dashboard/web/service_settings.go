package web

import (
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// settingDoc is one setting of a service kind as the server page shows it
// beside the settings box: what the key means, what the driver uses when
// it is unset, and the service's value when it is set.
type settingDoc struct {
	Key, Meaning, Default string
	Required              bool
	Value                 string
	Set                   bool
}

// kindDoc is a service kind with every setting its driver reads, for the
// "Add a service" form.
type kindDoc struct {
	Kind        servicekind.Kind
	Type        servicekind.Type
	Summary     string
	DefaultPort int
	Settings    []settingDoc
}

// settingDocs lists every setting of svc's kind (from its descriptor in
// internal/servicekind) with svc's values.
func settingDocs(svc domain.Service) []settingDoc {
	d, _ := servicekind.Lookup(svc.Kind)
	out := make([]settingDoc, 0, len(d.Settings))
	for _, s := range d.Settings {
		v, ok := svc.Settings[s.Key]
		out = append(out, settingDoc{Key: s.Key, Meaning: s.Meaning, Default: s.Default, Required: s.Required, Value: v, Set: ok})
	}
	return out
}

// kindDocs describes every service kind this build has a driver for.
func kindDocs() []kindDoc {
	var out []kindDoc
	for _, d := range servicekind.All() {
		k := kindDoc{Kind: d.Kind, Type: d.Type, Summary: d.Summary, DefaultPort: d.DefaultPort}
		for _, s := range d.Settings {
			k.Settings = append(k.Settings, settingDoc{Key: s.Key, Meaning: s.Meaning, Default: s.Default, Required: s.Required})
		}
		out = append(out, k)
	}
	return out
}
