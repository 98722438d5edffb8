#!/bin/sh
# aegir's postinst: its own system user and data directory. aegir is not
# started here: the packaged /etc/aegir/aegir.hcl refuses to start until
# the operator has configured it (see /usr/share/doc/aegir/install.md).
set -e

if [ "$1" = "configure" ]; then
	if ! getent group aegir >/dev/null; then
		addgroup --system --quiet aegir
	fi
	if ! getent passwd aegir >/dev/null; then
		adduser --system --quiet --ingroup aegir --home /var/lib/aegir \
			--no-create-home --shell /usr/sbin/nologin \
			--gecos "aegir hosting control plane" aegir
	fi
	install -d -o aegir -g aegir -m 0750 /var/lib/aegir
	# The config may hold passwords: readable by aegir, not by everyone.
	chown root:aegir /etc/aegir /etc/aegir/aegir.hcl
	chmod 0750 /etc/aegir
	chmod 0640 /etc/aegir/aegir.hcl
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
	# An upgrade restarts a running aegir on the new binary.
	if [ -n "$2" ] && systemctl is-active --quiet aegir.service; then
		systemctl restart aegir.service || true
	fi
fi
exit 0
