// Wrapper module that pins and builds the Vault agent used by tests.
// Separate from the main module and from the other agents: their
// dependency graphs conflict. Build with ops/build-agents.sh.
module github.com/aegirhq/aegir/ops/agents/vault

go 1.26

// Vault 1.13 links github.com/snowflakedb/gosnowflake v1.6.3, whose init
// parses an embedded CA bundle holding a certificate with a negative serial
// number; Go 1.23+ rejects those by default and the binary panics at start
// ("failed to parse CA certificate."). Restore the old default in the binary.
godebug x509negativeserial=1

require (
	github.com/hashicorp/vault v1.13.2
	github.com/hashicorp/vault/api v1.9.0
	github.com/hashicorp/vault/api/auth/approle v0.1.0
	github.com/hashicorp/vault/api/auth/kubernetes v0.3.0
	github.com/hashicorp/vault/api/auth/userpass v0.1.0
	github.com/hashicorp/vault/sdk v0.8.1
)

replace (
	github.com/hashicorp/vault/api => github.com/hashicorp/vault/api v1.9.0
	github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk v0.8.1
)
