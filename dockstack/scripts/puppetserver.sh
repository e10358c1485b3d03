#!/bin/sh
# The Puppet server container's command, not a host script: the server in the foreground as Debian's systemd unit
# starts it, with dockstack's puppet.conf (rendered into the mounted folder; a link, so a pushed file, renamed into
# place, is what the server reads next).
# Called as: docker run ... IMAGE sh -c "$SERVER_SCRIPT" sh MOUNT RUN SECRET_FILE JAVA_ARG... (services/puppet.py's
# command). SECRET_FILE holds the stack's secret each agent's CSR challenge is derived from (a secret file of the
# container, which only root reads): the autosign policy (MOUNT/autosign.sh, through the wrapper RUN/autosign that
# puppet.conf names) reads it there; it is never in the server's environment. Prints what the server logs (docker
# logs); it ends when the server does.
mount=$1 run=$2 secret=$3
shift 3
ln -sf "$mount/puppet.conf" /etc/puppet/puppet.conf
mkdir -p "$run"
# shellcheck disable=SC2016  # "$1" is the wrapper's own argument
printf '#!/bin/sh\nexec sh \047%s/autosign.sh\047 "$1" \047%s\047\n' "$mount" "$secret" > "$run/autosign" &&
  chmod 0700 "$run/autosign" || exit 1
exec java "$@" -jar /usr/share/puppetserver/puppetserver.jar --config /etc/puppet/puppetserver/conf.d \
  --bootstrap-config /etc/puppet/puppetserver/services.d
