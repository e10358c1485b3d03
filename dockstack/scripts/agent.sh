#!/bin/sh
# One Puppet agent run inside a container, against the CA dockstack pins (actions.py says why).
# Called as: docker exec -i NAME sh -c "$AGENT_SCRIPT" sh SERVER CERTNAME [DIR [PORT [WAIT [FACTER_CONF]]]]
#   (defaults: DIR /var/lib/dockstack-agent, PORT 8140, WAIT 0 seconds for the server's port to accept,
#   FACTER_CONF /etc/facter/facter.conf, the file Debian's facter reads)
# Standard input: the stack's CSR challenge (one line), then the Puppet CA's certificate(s) (PEM), read from the
#   server's container by dockstack over SSH: the agent trusts that CA only, never one a server on the network
#   offers. The ssldir is kept while that CA stays the same, and started over when it changes (a new server).
# Prints `agent exit N`, the agent's Error lines (`agent error ...`) and its last run summary
# (`agent summary ...`), for actions.parse_agent; exits 0 even when the agent failed.
server=$1 certname=$2 dir=${3:-/var/lib/dockstack-agent} port=${4:-8140} wait=${5:-0}
facter_conf=${6:-/etc/facter/facter.conf}
refuse() { echo "agent exit 1"; echo "agent error $1"; exit 0; }
IFS= read -r challenge || challenge=
ca=$(cat)
case $challenge in
  '' | *[!A-Za-z0-9]*) refuse "no CSR challenge was given (a line of letters and digits on standard input)" ;;
esac
case $ca in
  "-----BEGIN CERTIFICATE-----"*"-----END CERTIFICATE-----") ;;
  *) refuse "no CA certificate was given to pin (PEM on standard input, after the challenge)" ;;
esac
start=$(date +%s)
# shellcheck disable=SC2016  # $1 and $2 are bash's own arguments, expanded by bash -c
until [ "$wait" -le 0 ] || timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' sh "$server" "$port" 2>/dev/null; do
  if [ $(( $(date +%s) - start )) -ge "$wait" ]; then
    refuse "the Puppet server $server does not accept connections on port $port after ${wait}s"
  fi
  sleep 0.5  # between probes of the server's port, bounded by $wait
done
ssl=$dir/ssl
# another CA (a re-created server) or none yet: the key and certificate of the old one go with it
if [ "$(cat "$ssl/certs/ca.pem" 2>/dev/null)" != "$ca" ]; then rm -rf "$ssl"; fi
if ! { mkdir -p "$ssl/certs" && printf '%s\n' "$ca" > "$ssl/certs/ca.pem"; }; then refuse "cannot write $ssl/certs/ca.pem"; fi
rm -f "$dir/last_run_summary.yaml"
# Facter without the augeas facts: resolving them loads every Augeas lens (2 s of each run's 3.5 s of facts), and
# no profile reads them (Puppet's augeas resource type needs no fact)
facter_settings='facts : {
  blocklist : [ "augeas" ],
}'
if [ "$(cat "$facter_conf" 2>/dev/null)" != "$facter_settings" ]; then
  { mkdir -p "$(dirname "$facter_conf")" && printf '%s\n' "$facter_settings" > "$facter_conf"; } ||
    refuse "cannot write $facter_conf"
fi
# the challenge goes into a certificate request only (challengePassword), from a file only root reads, gone after
(umask 077 && printf 'custom_attributes:\n  1.2.840.113549.1.9.7: "%s"\n' "$challenge" > "$dir/csr_attributes.yaml") ||
  refuse "cannot write $dir/csr_attributes.yaml"
puppet agent --onetime --no-daemonize --no-splay --detailed-exitcodes --waitforcert 0 --no-usecacheonfailure \
  --logdest console --color false --keylength 2048 --http_keepalive_timeout 0 \
  --server "$server" --certname "$certname" --ssldir "$ssl" --csr_attributes "$dir/csr_attributes.yaml" \
  --lastrunfile "$dir/last_run_summary.yaml" < /dev/null > "$dir/run.log" 2>&1
code=$?
rm -f "$dir/csr_attributes.yaml"
echo "agent exit $code"
grep '^Error: ' "$dir/run.log" | tail -n 4 | sed 's/^/agent error /'
if [ -f "$dir/last_run_summary.yaml" ]; then sed 's/^/agent summary /' "$dir/last_run_summary.yaml"; fi
