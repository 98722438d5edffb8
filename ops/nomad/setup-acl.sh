#!/usr/bin/env bash
# setup-acl.sh — prepare a Nomad that runs with ACLs for aegir: load the
# least-privilege policy and make a token. Safe to run again: it rewrites
# the policy, and makes a token only when OUT_DIR has none.
#
#   NOMAD_ADDR=http://127.0.0.1:4646 NOMAD_TOKEN=<management token> ops/nomad/setup-acl.sh [OUT_DIR]
#
# The policy "aegir" (ops/nomad/aegir-policy.hcl) is written for the
# namespace aegir registers its jobs in, NOMAD_NAMESPACE (aegir's
# nomad.namespace), default "default"; a namespace other than default is
# created when missing. OUT_DIR (default ./.aegir-nomad) receives, mode
# 0600, the secret of a new client token with that policy unless the file
# is there already:
#   aegir.token     give it to aegir: nomad.token or NOMAD_TOKEN
# To replace the token, delete the file, run again, then revoke the old one
# (nomad acl token list; nomad acl token delete ID).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-./.aegir-nomad}"
ns="${NOMAD_NAMESPACE:-default}"

log() { printf 'setup-acl: %s\n' "$*" >&2; }

: "${NOMAD_TOKEN:?set NOMAD_TOKEN to a management token, e.g. the one nomad acl bootstrap printed}"
# Nomad's own rule for namespace names; the name goes into the policy text.
[[ "$ns" =~ ^[a-zA-Z0-9-]{1,128}$ ]] || { log "NOMAD_NAMESPACE $ns: use letters, digits and '-'"; exit 1; }
if ! command -v nomad >/dev/null 2>&1; then
	n="${AEGIR_AGENT_CACHE:-$HOME/.cache/aegir/agents}/nomad-1.4.3/nomad"
	[ -x "$n" ] || { log "no nomad binary on PATH or at $n: install Nomad or run ops/build-agents.sh nomad"; exit 1; }
	PATH="$(dirname "$n"):$PATH"
fi

if [ "$ns" != default ]; then
	# By its exact name: `nomad namespace status aegir` also succeeds when
	# only "aegir-staging" exists (it looks names up by prefix).
	names="$(nomad namespace list -t '{{range .}}{{println .Name}}{{end}}')"
	if ! grep -qxF -- "$ns" <<<"$names"; then
		nomad namespace apply -description "aegir's jobs" "$ns" >/dev/null
		log "namespace $ns created"
	fi
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s|^namespace \"default\" {|namespace \"$ns\" {|" "$here/aegir-policy.hcl" >"$tmp/aegir.hcl"
grep -q "^namespace \"$ns\" {" "$tmp/aegir.hcl" || { log "ops/nomad/aegir-policy.hcl has no namespace \"default\" rule to set the namespace in"; exit 1; }
nomad acl policy apply -description "aegir server: its jobs in namespace $ns, its queue variables, node read" aegir "$tmp/aegir.hcl" >/dev/null
log "policy aegir written for namespace $ns"

umask 077
mkdir -p "$out"
if [ -s "$out/aegir.token" ]; then
	log "$out/aegir.token exists: keeping its token"
else
	# The secret goes from nomad's stdout to the file, never through argv
	# or the log. Nomad 1.4 prints "Secret ID    = ...".
	nomad acl token create -type client -name "aegir server" -policy aegir |
		awk '$1 == "Secret" && $2 == "ID" { print $4 }' >"$out/aegir.token.tmp"
	[ -s "$out/aegir.token.tmp" ] || { log "nomad made no token"; exit 1; }
	mv "$out/aegir.token.tmp" "$out/aegir.token"
	log "token of policy aegir written to $out/aegir.token"
fi
log "done"
