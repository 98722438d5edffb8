#!/bin/sh
# aegir's prerm: stop the service before its binary goes away (not on an
# upgrade: postinst restarts it on the new binary).
set -e
if [ "$1" = "remove" ] && [ -d /run/systemd/system ]; then
	systemctl disable --now aegir.service >/dev/null 2>&1 || true
fi
exit 0
