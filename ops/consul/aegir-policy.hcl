# aegir: the Consul ACL policy of the token `aegir server` uses
# (store.consul.token in its config, or CONSUL_HTTP_TOKEN). It is all aegir
# does in Consul: its store in the KV and the sites it publishes in the
# catalog for a router in front. No sessions, no agent endpoints, no
# Connect. ops/consul/setup-acl.sh loads it and makes the token.
#
# Tested against Consul 1.14 with default_policy = "deny"
# (internal/store/consulkv/acl_test.go, internal/routing/acl_test.go).

# The store (internal/store/consulkv): every entity under the KV prefix,
# store.consul.prefix (AEGIR_CONSUL_PREFIX), default "aegir/v1/". Reads,
# recursive lists, blocking queries (watches) and check-and-set
# transactions (/v1/txn), which Consul checks key by key. Change the prefix
# here if you changed it in aegir's config.
key_prefix "aegir/v1/" {
  policy = "write"
}

# Routing (internal/routing): each aegir web server is a catalog node
# "aegir-<server name>", registered through the catalog API (no Consul
# agent needs to run there). aegir writes the node, and removes site
# instances from it.
node_prefix "aegir-" {
  policy = "write"
}

# Each enabled site is one instance of the service "aegir-site" on its web
# server's node, with the HTTP health check aegir keeps itself; aegir reads
# them back with blocking queries on /v1/health/service/aegir-site.
service "aegir-site" {
  policy = "write"
}
