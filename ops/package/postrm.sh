#!/bin/sh
# aegir's postrm. Removal keeps /var/lib/aegir (the store of a one-machine
# install, secrets, admin token, backups) and the aegir user; only purge
# deletes them. dpkg itself removes /etc/aegir/aegir.hcl on purge.
set -e
case "$1" in
purge)
	rm -rf /var/lib/aegir
	rmdir /etc/aegir 2>/dev/null || true
	if getent passwd aegir >/dev/null; then
		deluser --system --quiet aegir || true
	fi
	if getent group aegir >/dev/null; then
		delgroup --system --quiet aegir || true
	fi
	;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
exit 0
