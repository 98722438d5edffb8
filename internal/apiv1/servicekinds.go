package apiv1

// ServiceKind is one item of GET /service-kinds: a kind of service this
// build has a driver for, and every setting the driver reads, so clients
// can list them without this repository's code.
type ServiceKind struct {
	Kind    string `json:"kind"`
	Type    string `json:"type"` // http or db
	Summary string `json:"summary"`
	// DefaultPort is the port used when a service has none; 0 for a kind
	// with no network server (sqlite).
	DefaultPort  int              `json:"default_port,omitempty"`
	Capabilities []string         `json:"capabilities,omitempty"`
	Settings     []ServiceSetting `json:"settings"`
}

// ServiceSetting is one key of a service's settings.
type ServiceSetting struct {
	Key     string `json:"key"`
	Meaning string `json:"meaning"`
	// Default is what the driver uses when the key is unset, as a person
	// would say it ("the server's address"); "" for none.
	Default string `json:"default,omitempty"`
	// Required keys must be set before verify-server passes.
	Required bool `json:"required,omitempty"`
}
