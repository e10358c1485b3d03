#!/bin/sh
# The Puppet server container's command, not a host script: the server in the foreground as Debian's systemd unit
# starts it, with dockstack's puppet.conf (rendered into the mounted folder; a link, so a pushed file, renamed into
# place, is what the server reads next).
# Called as: docker run ... IMAGE sh -c "$SERVER_SCRIPT" sh MOUNT JAVA_ARG... (services/puppet.py's command).
# Prints what the server logs (docker logs); it ends when the server does.
mount=$1
shift
ln -sf "$mount/puppet.conf" /etc/puppet/puppet.conf
mkdir -p /run/puppetserver
exec java "$@" -jar /usr/share/puppetserver/puppetserver.jar --config /etc/puppet/puppetserver/conf.d \
  --bootstrap-config /etc/puppet/puppetserver/services.d
