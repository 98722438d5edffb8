#!/usr/bin/env bash
# setup-dev.sh — prepare a Vault for aegir: the KV v2 mount, the database
# secrets engine, aegir's policies and AppRoles, and optionally one database
# server's admin credentials and engine connection. Safe to run again: it
# only adds what is missing and rewrites the policies and roles.
#
#   VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=<root or admin> ops/vault/setup-dev.sh [OUT_DIR]
#
# OUT_DIR (default ./.aegir-vault) receives, mode 0600:
#   server.role_id  server.secret_id     AppRole of `aegir server` (policy aegir-dashboard)
#   backend.role_id backend.secret_id    AppRole of back ends (policy aegir-backend)
# Point aegir at them with AEGIR_VAULT_ROLE_ID_FILE / AEGIR_VAULT_SECRET_ID_FILE.
#
# To register a database server too (its admin credentials go to
# secret/aegir/services/<id>/admin and database/config/<id>), set:
#   AEGIR_DB_SERVICE_ID AEGIR_DB_KIND (mariadb|postgresql) AEGIR_DB_HOST
#   AEGIR_DB_PORT AEGIR_DB_ADMIN_USER AEGIR_DB_ADMIN_PASSWORD
# (aegir's back end also does this itself before the first backup of a site.)
#
# Vault v1.13.2 built by ops/build-agents.sh is old; it needs
# GODEBUG=x509negativeserial=1 on Go 1.23+, which this script sets.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-./.aegir-vault}"
export GODEBUG="${GODEBUG:+$GODEBUG,}x509negativeserial=1"

log() { printf 'setup-dev: %s\n' "$*" >&2; }

: "${VAULT_ADDR:?set VAULT_ADDR to the Vault to set up}"
: "${VAULT_TOKEN:?set VAULT_TOKEN to a token allowed to manage mounts, auth and policies (root in dev)}"
if ! command -v vault >/dev/null 2>&1; then
	v="${AEGIR_AGENT_CACHE:-$HOME/.cache/aegir/agents}/vault-1.13.2/vault"
	[ -x "$v" ] || { log "no vault binary on PATH or at $v: run ops/build-agents.sh vault"; exit 1; }
	PATH="$(dirname "$v"):$PATH"
fi

mounts="$(vault secrets list -format=json)"
if ! grep -q '"secret/"' <<<"$mounts"; then
	vault secrets enable -path=secret -version=2 kv >/dev/null
	log "enabled kv-v2 at secret/"
elif [ "$(vault read -format=json sys/mounts/secret | jq -r '.data.options.version // "1"')" != 2 ]; then
	log "secret/ is mounted but is not KV version 2: aegir needs kv-v2 (vault kv enable-versioning secret/)"
	exit 1
fi
if ! grep -q '"database/"' <<<"$mounts"; then
	vault secrets enable -path=database database >/dev/null
	log "enabled the database secrets engine at database/"
fi
# (Listings are read into variables first: with pipefail, `vault ... | grep -q`
# fails when grep exits early and vault gets SIGPIPE.)
auths="$(vault auth list -format=json)"
if ! grep -q '"approle/"' <<<"$auths"; then
	vault auth enable approle >/dev/null
	log "enabled AppRole auth at approle/"
fi

for p in aegir-backend aegir-dashboard; do
	vault policy write "$p" "$here/$p.hcl" >/dev/null
	log "policy $p written from ops/vault/$p.hcl"
done

vault write auth/approle/role/aegir-server token_policies=aegir-dashboard \
	token_ttl=1h token_max_ttl=24h secret_id_ttl=0 >/dev/null
vault write auth/approle/role/aegir-backend token_policies=aegir-backend \
	token_ttl=1h token_max_ttl=24h secret_id_ttl=0 >/dev/null
log "AppRoles aegir-server (aegir-dashboard) and aegir-backend (aegir-backend) written"

umask 077
mkdir -p "$out"
for r in server backend; do
	vault read -field=role_id "auth/approle/role/aegir-$r/role-id" >"$out/$r.role_id"
	vault write -f -field=secret_id "auth/approle/role/aegir-$r/secret-id" >"$out/$r.secret_id"
done
log "role_id and a new secret_id for each AppRole written to $out/"

if [ -n "${AEGIR_DB_SERVICE_ID:-}" ]; then
	: "${AEGIR_DB_KIND:?} ${AEGIR_DB_HOST:?} ${AEGIR_DB_PORT:?} ${AEGIR_DB_ADMIN_USER:?} ${AEGIR_DB_ADMIN_PASSWORD:?}"
	[[ "$AEGIR_DB_SERVICE_ID" =~ ^[0-9a-z]{20}$ ]] || { log "AEGIR_DB_SERVICE_ID is not an aegir id"; exit 1; }
	[[ "$AEGIR_DB_HOST" =~ ^[A-Za-z0-9.:-]+$ && "$AEGIR_DB_PORT" =~ ^[0-9]+$ ]] || { log "bad AEGIR_DB_HOST or AEGIR_DB_PORT"; exit 1; }
	# The password goes through stdin (a JSON document), never argv.
	jq -n '{username: env.AEGIR_DB_ADMIN_USER, password: env.AEGIR_DB_ADMIN_PASSWORD}' |
		vault kv put -mount=secret "aegir/services/$AEGIR_DB_SERVICE_ID/admin" - >/dev/null
	case "$AEGIR_DB_KIND" in
	mariadb | mysql)
		plugin=mysql-database-plugin
		url="{{username}}:{{password}}@tcp($AEGIR_DB_HOST:$AEGIR_DB_PORT)/" ;;
	postgresql)
		plugin=postgresql-database-plugin
		url="postgresql://{{username}}:{{password}}@$AEGIR_DB_HOST:$AEGIR_DB_PORT/postgres?sslmode=${AEGIR_DB_SSLMODE:-disable}" ;;
	*) log "AEGIR_DB_KIND must be mariadb or postgresql"; exit 1 ;;
	esac
	jq -n --arg plugin "$plugin" --arg url "$url" \
		--arg tmpl '{{ printf "%s-%s" (.DisplayName | replace "token-" "" | truncate 22) (random 8) }}' \
		'{plugin_name:$plugin, connection_url:$url, username:env.AEGIR_DB_ADMIN_USER,
		  password:env.AEGIR_DB_ADMIN_PASSWORD, allowed_roles:["site-*"], username_template:$tmpl}' |
		vault write "database/config/$AEGIR_DB_SERVICE_ID" - >/dev/null
	log "database server $AEGIR_DB_SERVICE_ID: admin credentials stored, engine connection configured"
fi
log "done"
