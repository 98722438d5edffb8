// Wrapper module that pins and builds the Nomad agent used by tests.
// Separate from the main module and from the other agents: their
// dependency graphs conflict. Build with ops/build-agents.sh.
module github.com/aegirhq/aegir/ops/agents/nomad

go 1.26

require github.com/hashicorp/nomad v1.4.3

replace (
	github.com/Microsoft/go-winio => github.com/endocrimes/go-winio v0.4.13-0.20190628114223-fb47a8b41948
	github.com/hashicorp/go-discover => github.com/hashicorp/go-discover v0.0.0-20220621183603-a413e131e836
	github.com/hashicorp/hcl => github.com/hashicorp/hcl v1.0.1-0.20201016140508-a07e7d50bbee
	github.com/hashicorp/nomad/api => github.com/hashicorp/nomad/api v0.0.0-20230103221135-ce00d683f9be
)
