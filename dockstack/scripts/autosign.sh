#!/bin/sh
# The Puppet server's autosign policy, inside the puppet container (puppet.conf's `autosign` is a wrapper that
# puppetserver.sh writes): a certificate request is signed only when its certname is on the stack's list
# (autosign.conf beside this script, one exact name a line) and it carries the stack's challengePassword (what
# agent.sh puts into each request). Anything else waits for an operator (`puppetserver ca sign`).
# Called as (by the server, through the wrapper): sh autosign.sh CERTNAME CHALLENGE_FILE, the request (PEM) on
#   standard input; CHALLENGE_FILE holds the secret (the container's secret file, root's only).
# Prints nothing on standard output. Exit 0 signs; otherwise it says on standard error why not (the server logs
# it).
certname=$1 secret_file=$2
names=$(dirname "$0")/autosign.conf
case $certname in  # a DNS name (never a comment line of the list)
  '' | *[!a-z0-9.-]*) echo "dockstack autosign: $certname is no DNS name" >&2; exit 1 ;;
esac
if ! grep -qxF -e "$certname" "$names"; then
  echo "dockstack autosign: $certname is not on the stack's list ($names)" >&2; exit 1
fi
want=$(cat "$secret_file" 2>/dev/null)
case $want in
  '' | *[!A-Za-z0-9]*) echo "dockstack autosign: no challenge in $secret_file" >&2; exit 1 ;;
esac
given=$(openssl req -noout -text 2>/dev/null | sed -n 's/^ *challengePassword *: *//p' | head -n 1)
if [ "$given" != "$want" ]; then
  echo "dockstack autosign: the request for $certname does not carry the stack's challengePassword" >&2; exit 1
fi
