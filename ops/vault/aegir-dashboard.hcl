# aegir-dashboard: the token of the dashboard/API (`aegir server`). It
# writes secrets operators give it, and reads none of the database
# servers' admin credentials: those are for back ends only. It cannot list
# anything.

# Database server admin credentials (`aegir server credentials`): write
# only. KV v2 writes do not read the secret back.
path "secret/data/aegir/services/*" {
  capabilities = ["create", "update"]
}

# Site secrets: the dashboard may set them (import, an operator's reset),
# and delete them with the site; reading stays with the back end.
path "secret/data/aegir/sites/*" {
  capabilities = ["create", "update"]
}
path "secret/metadata/aegir/sites/*" {
  capabilities = ["delete"]
}

# Register a database server with the secrets engine when its admin
# credentials are stored (Vault never returns the password on read).
path "database/config/*" {
  capabilities = ["create", "update"]
}

# Webhook subscriptions' signing secrets (internal/notify): the API writes
# one when a webhook is added and deletes it with the subscription; the
# leader reads it to sign each delivery.
path "secret/data/aegir/notifications/*" {
  capabilities = ["create", "update", "read"]
}
path "secret/metadata/aegir/notifications/*" {
  capabilities = ["delete"]
}
