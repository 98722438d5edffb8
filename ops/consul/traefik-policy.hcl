# aegir-traefik: the Consul ACL policy of the token a router in front of
# aegir uses to follow the sites aegir publishes (ops/traefik/traefik.yml,
# providers.consulCatalog.endpoint.token). Read only: the "aegir-site"
# instances and their health, on the "aegir-" nodes. Traefik's Consul
# Catalog provider lists /v1/catalog/services (it sees only aegir-site) and
# reads /v1/health/service/aegir-site. ops/consul/setup-acl.sh loads it and
# makes the token.
#
# Tested with Traefik v3.1.0 against Consul 1.14 with default_policy =
# "deny" (internal/routing/acl_test.go).

service "aegir-site" {
  policy = "read"
}

node_prefix "aegir-" {
  policy = "read"
}
