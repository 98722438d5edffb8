package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// serviceKinds lists the service kinds this build has drivers for, with
// the settings each reads, from their descriptors in internal/servicekind.
func (s *Server) serviceKinds(c *fiber.Ctx) error {
	return paginate(c, serviceKindList())
}

func serviceKindList() []apiv1.ServiceKind {
	all := servicekind.All()
	out := make([]apiv1.ServiceKind, 0, len(all))
	for _, d := range all {
		k := apiv1.ServiceKind{Kind: string(d.Kind), Type: string(d.Type), Summary: d.Summary, DefaultPort: d.DefaultPort,
			Settings: make([]apiv1.ServiceSetting, 0, len(d.Settings))}
		for _, c := range d.Capabilities {
			k.Capabilities = append(k.Capabilities, string(c))
		}
		for _, st := range d.Settings {
			k.Settings = append(k.Settings, apiv1.ServiceSetting{Key: st.Key, Meaning: st.Meaning, Default: st.Default, Required: st.Required})
		}
		out = append(out, k)
	}
	return out
}
