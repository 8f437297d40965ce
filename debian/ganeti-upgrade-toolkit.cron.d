# Finish an interrupted Ganeti cluster upgrade at boot, on hosts without
# systemd (with systemd, ganeti-upgrade-resume.service does it), when
# ganeti-upgrade's marker or Ganeti's intent file says one is pending and
# RESUME_AT_BOOT in /etc/default/ganeti-upgrade is not "no".
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

@reboot root [ -x /usr/sbin/ganeti-upgrade ] && [ ! -d /run/systemd/system ] && { [ -e /var/lib/ganeti-upgrade/pending ] || [ -e /var/lib/ganeti/intent-to-upgrade ]; } && RESUME_AT_BOOT=yes BOOT_WAIT=900 EXTRA_ARGS= && { [ ! -r /etc/default/ganeti-upgrade ] || . /etc/default/ganeti-upgrade; } && [ "$RESUME_AT_BOOT" != no ] && exec /usr/sbin/ganeti-upgrade --resume --vote-wait="$BOOT_WAIT" --node-wait="$BOOT_WAIT" $EXTRA_ARGS
