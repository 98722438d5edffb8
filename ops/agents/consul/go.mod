// Wrapper module that pins and builds the Consul agent used by tests.
// Separate from the main module and from the other agents: their
// dependency graphs conflict. Build with ops/build-agents.sh.
module github.com/aegirhq/aegir/ops/agents/consul

go 1.26

require (
	github.com/hashicorp/consul v1.14.11
	github.com/hashicorp/consul/api v1.18.1
	github.com/hashicorp/consul/proto-public v0.2.1
	github.com/hashicorp/consul/sdk v0.13.0
)

replace launchpad.net/gocheck => github.com/go-check/check v0.0.0-20140225173054-eb6ee6f84d0a

exclude (
	github.com/hashicorp/go-msgpack v1.1.5
	github.com/hashicorp/go-msgpack v1.1.6
)
