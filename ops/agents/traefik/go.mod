// Wrapper module that pins and builds the Traefik proxy used by the routing
// tests (internal/testharness.Traefik). Separate from the main module and
// from the HashiCorp agents: Traefik's dependency graph has its own replaces.
// Build with ops/build-agents.sh traefik.
module github.com/aegirhq/aegir/ops/agents/traefik

go 1.26

require github.com/traefik/traefik/v3 v3.1.0

// Repeated from github.com/traefik/traefik/v3 v3.1.0's go.mod: replace and
// exclude directives only apply in the main module.
replace (
	github.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e
	github.com/gorilla/mux => github.com/containous/mux v0.0.0-20220627093034-b2dd784e613f
	github.com/mailgun/minheap => github.com/containous/minheap v0.0.0-20190809180810-6e71eb837595
)

replace github.com/jaguilar/vt100 => github.com/tonistiigi/vt100 v0.0.0-20190402012908-ad4c4a574305

exclude github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible

replace github.com/cucumber/godog => github.com/cucumber/godog v0.13.0

replace github.com/http-wasm/http-wasm-host-go => github.com/traefik/http-wasm-host-go v0.0.0-20240618100324-3c53dcaa1a70
