#!/bin/sh
# Inside the Puppet server's container, before the agent of a container dockstack (re-)creates asks for its
# certificate with a new key: the server forgets that name's certificate (revoked, then removed) and any request
# pending under it. The server signs no second certificate for a name (puppet.conf's allow_duplicate_certs), so
# without this the new agent would be refused; and a request another container planted under the name is gone.
# Called as: docker exec NAME sh -c "$FORGET_SCRIPT" sh CERTNAME CADIR WAIT
#   (CADIR: the CA's folder, /etc/puppet/puppetserver/ca; WAIT: seconds to wait for the server to answer, when
#   there is something to forget: the CA's API does the revocation, `puppetserver ca clean`)
# Prints `forget none` (the CA holds nothing for the name: the server is not asked) or `forget done`; otherwise
# exits 1 with the reason on standard error.
certname=$1 cadir=$2 wait=$3
case $certname in  # a DNS name: never a path
  '' | .* | *[!a-z0-9.-]*) echo "puppet_forget: $certname is no certname (a DNS name)" >&2; exit 1 ;;
esac
case $wait in
  '' | *[!0-9]*) echo "puppet_forget: $wait is no number of seconds to wait" >&2; exit 1 ;;
esac
held() { [ -e "$cadir/signed/$certname.pem" ] || [ -e "$cadir/requests/$certname.pem" ]; }
if ! held; then echo "forget none"; exit 0; fi
start=$(date +%s)
until [ "$(curl -sfk https://127.0.0.1:8140/status/v1/simple 2>/dev/null)" = running ]; do
  if [ $(( $(date +%s) - start )) -ge "$wait" ]; then
    echo "puppet_forget: the Puppet server does not answer after ${wait}s: $certname's certificate is kept" >&2
    exit 1
  fi
  sleep 1  # between probes of the server's status, bounded by $wait
done
# its exit code says how (0: revoked and removed, 24: a request only, removed); what is left says whether
out=$(puppetserver ca clean --certname "$certname" 2>&1)
if held; then
  echo "puppet_forget: the CA still holds $certname after puppetserver ca clean: $(printf '%s' "$out" | tail -n 3)" >&2
  exit 1
fi
echo "forget done"
