# aegir-backend: the token a back end (`aegir provision run`) works with,
# directly (VAULT_TOKEN), through `aegir server`'s AppRole, or from the
# `vault` block of the aegir-task Nomad job. It reads what tasks need and
# nothing else; it cannot list anything.
#
# Paths assume the defaults: KV v2 at secret/, prefix aegir/, the database
# secrets engine at database/. Change them here if you changed
# vault_mount / vault_prefix in aegir's config.

# Database server admin credentials, written by the operator or the
# dashboard; read only while a task runs.
path "secret/data/aegir/services/*" {
  capabilities = ["read"]
}

# Each site's own database password: generated at install, rotated by
# rotate-credentials, removed when the site is deleted.
path "secret/data/aegir/sites/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/aegir/sites/*" {
  capabilities = ["delete"]
}

# The database secrets engine: the back end, which holds a server's admin
# credentials during a task anyway, keeps the connection and the site's
# role up to date, and leases throwaway users from site roles only.
path "database/config/*" {
  capabilities = ["create", "update"]
}
path "database/roles/site-*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "database/creds/site-*" {
  capabilities = ["read"]
}
# Revoke the leases it took, when the task ends.
path "sys/leases/revoke/database/creds/site-*" {
  capabilities = ["update"]
}

# A child token per task, named after the task (t-<task id>), which asks
# for the throwaway user: the user name carries the task id into the
# database server's logs. Children get this policy or less.
path "auth/token/create" {
  capabilities = ["update"]
}
