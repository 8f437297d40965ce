# Finish an interrupted Ganeti cluster upgrade at boot, on hosts without
# systemd (with systemd, ganeti-upgrade-resume.service does it).
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

@reboot root [ -x /usr/sbin/ganeti-upgrade ] && [ ! -d /run/systemd/system ] && [ -e /var/lib/ganeti/intent-to-upgrade ] && /usr/sbin/ganeti-upgrade --resume
