#!/usr/bin/env bash
# setup-acl.sh — prepare a Consul that runs with ACLs for aegir: load the
# least-privilege policies and make a token for each. Safe to run again: it
# rewrites the policies, and makes a token only where OUT_DIR has none.
#
#   CONSUL_HTTP_ADDR=127.0.0.1:8500 CONSUL_HTTP_TOKEN=<management token> ops/consul/setup-acl.sh [OUT_DIR]
#
# Policies (rewritten on every run):
#   aegir           ops/consul/aegir-policy.hcl: the store's KV prefix and
#                   the catalog entries of routing; for `aegir server`
#   aegir-traefik   ops/consul/traefik-policy.hcl: read the published sites;
#                   for the router in front (ops/traefik/traefik.yml)
# OUT_DIR (default ./.aegir-consul) receives, mode 0600, the secret of a new
# token of each policy unless the file is there already:
#   aegir.token     give it to aegir: store.consul.token or CONSUL_HTTP_TOKEN
#   traefik.token   give it to Traefik: consulCatalog.endpoint.token
# To replace a token, delete its file, run again, then revoke the old one
# (consul acl token list; consul acl token delete -id ...).
#
# AEGIR_CONSUL_PREFIX, when aegir's store.consul.prefix is not the default
# aegir/v1/, is written into the aegir policy in its place.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-./.aegir-consul}"
prefix="${AEGIR_CONSUL_PREFIX:-aegir/v1/}"

log() { printf 'setup-acl: %s\n' "$*" >&2; }

: "${CONSUL_HTTP_TOKEN:?set CONSUL_HTTP_TOKEN to a token allowed to manage ACLs (acl write), e.g. the bootstrap token}"
[[ "$prefix" == */ ]] || prefix="$prefix/"
# Only what a KV prefix needs: it goes into the policy text.
[[ "$prefix" =~ ^[A-Za-z0-9._-][A-Za-z0-9._/-]*$ ]] || { log "AEGIR_CONSUL_PREFIX $prefix: use letters, digits, '.', '_', '-' and '/'"; exit 1; }
if ! command -v consul >/dev/null 2>&1; then
	c="${AEGIR_AGENT_CACHE:-$HOME/.cache/aegir/agents}/consul-1.14.11/consul"
	[ -x "$c" ] || { log "no consul binary on PATH or at $c: install Consul or run ops/build-agents.sh consul"; exit 1; }
	PATH="$(dirname "$c"):$PATH"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s|key_prefix \"aegir/v1/\"|key_prefix \"$prefix\"|" "$here/aegir-policy.hcl" >"$tmp/aegir.hcl"
grep -q "key_prefix \"$prefix\"" "$tmp/aegir.hcl" || { log "ops/consul/aegir-policy.hcl has no key_prefix \"aegir/v1/\" rule to set the prefix in"; exit 1; }
cp "$here/traefik-policy.hcl" "$tmp/traefik.hcl"

# policy NAME FILE DESCRIPTION: create the policy, or update its rules.
policy() {
	local id
	# (Read into a variable first: with pipefail, a failed read fails the
	# pipeline, which is what "no such policy" looks like.)
	if id="$(consul acl policy read -name "$1" 2>/dev/null | awk '$1 == "ID:" { print $2 }')" && [ -n "$id" ]; then
		consul acl policy update -id "$id" -description "$3" -rules "@$2" >/dev/null
		log "policy $1 updated"
	else
		consul acl policy create -name "$1" -description "$3" -rules "@$2" >/dev/null
		log "policy $1 created"
	fi
}
policy aegir "$tmp/aegir.hcl" "aegir server: KV under $prefix, catalog nodes aegir-*, service aegir-site"
policy aegir-traefik "$tmp/traefik.hcl" "router in front of aegir: read service aegir-site on nodes aegir-*"

umask 077
mkdir -p "$out"
# token POLICY FILE DESCRIPTION: a new token of POLICY into OUT_DIR/FILE,
# unless it is there. The secret goes from consul's stdout to the file,
# never through argv or the log.
token() {
	if [ -s "$out/$2" ]; then
		log "$out/$2 exists: keeping its token"
		return
	fi
	consul acl token create -policy-name "$1" -description "$3" | awk '$1 == "SecretID:" { print $2 }' >"$out/$2.tmp"
	[ -s "$out/$2.tmp" ] || { log "consul made no token for $1"; exit 1; }
	mv "$out/$2.tmp" "$out/$2"
	log "token of policy $1 written to $out/$2"
}
token aegir aegir.token "aegir server"
token aegir-traefik traefik.token "router in front of aegir"
log "done"
