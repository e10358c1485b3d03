#!/bin/sh
# Inside the Puppet server's container, before the agent of a container dockstack (re-)creates asks for its
# certificate with a new key: the server forgets that name's certificate (revoked, then removed) and any request
# pending under it. The server signs no second certificate for a name (puppet.conf's allow_duplicate_certs), so
# without this the new agent would be refused; and a request another container planted under the name is gone.
# Called as: docker exec NAME sh -c "$FORGET_SCRIPT" sh CERTNAME CADIR WAIT SERVER SSLDIR
#   (CADIR: the CA's folder, /etc/puppet/puppetserver/ca; WAIT: seconds to wait for the server to answer, when
#   there is something to forget; SERVER: the server's own certname, whose certificate (in SSLDIR, Debian's
#   /var/lib/puppet/ssl) may use the CA's API)
# The CA's API in one request per file: PUT /puppet-ca/v1/clean revokes and removes the certificate, DELETE
# certificate_status removes a pending request. (`puppetserver ca clean` makes two requests on one connection and
# waits out the server's 30 s idle timeout between them: the revocation reloads the server's TLS context.)
# Prints `forget none` (the CA holds nothing for the name: the server is not asked) or `forget done`; otherwise
# exits 1 with the reason on standard error.
certname=$1 cadir=$2 wait=$3 server=$4 ssldir=$5
for name in "$certname" "$server"; do
  case $name in  # a DNS name: never a path, nothing JSON or a URL would read otherwise
    '' | .* | *[!a-z0-9.-]*) echo "puppet_forget: $name is no certname (a DNS name)" >&2; exit 1 ;;
  esac
done
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
# METHOD PATH [JSON]: one request to this container's server as the server's own certificate; prints the HTTP code
api() {
  set -- "$@" ""
  curl -sS --max-time 30 --resolve "$server:8140:127.0.0.1" --cacert "$ssldir/certs/ca.pem" \
    --cert "$ssldir/certs/$server.pem" --key "$ssldir/private_keys/$server.pem" -H 'Content-Type: application/json' \
    -o /dev/null -w '%{http_code}' -X "$1" --data "$3" "https://$server:8140$2" 2>&1
}
said=""
if [ -e "$cadir/signed/$certname.pem" ]; then
  said="clean: $(api PUT /puppet-ca/v1/clean "{\"certnames\":[\"$certname\"]}")"
fi
if [ -e "$cadir/requests/$certname.pem" ]; then
  said="$said request: $(api DELETE "/puppet-ca/v1/certificate_status/$certname")"
fi
if held; then
  echo "puppet_forget: the CA still holds $certname after asking its API to forget it (HTTP $said)" >&2
  exit 1
fi
echo "forget done"
