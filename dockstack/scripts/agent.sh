#!/bin/sh
# One Puppet agent run inside a container, from a fresh ssldir unless FRESH is 0 (actions.py says why).
# Called as: docker exec NAME sh -c "$AGENT_SCRIPT" sh SERVER CERTNAME [FRESH [DIR [PORT [WAIT]]]]
#   (defaults: FRESH 1, DIR /var/lib/dockstack-agent, PORT 8140, WAIT 0 seconds for the server's port to accept)
# Prints `agent exit N`, the agent's Error lines (`agent error ...`) and its last run summary
# (`agent summary ...`), for actions.parse_agent; exits 0 even when the agent failed.
server=$1 certname=$2 fresh=${3:-1} dir=${4:-/var/lib/dockstack-agent} port=${5:-8140} wait=${6:-0}
start=$(date +%s)
# shellcheck disable=SC2016  # $1 and $2 are bash's own arguments, expanded by bash -c
until [ "$wait" -le 0 ] || timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' sh "$server" "$port" 2>/dev/null; do
  if [ $(( $(date +%s) - start )) -ge "$wait" ]; then
    echo "agent exit 1"
    echo "agent error the Puppet server $server does not accept connections on port $port after ${wait}s"
    exit 0
  fi
  sleep 0.5  # between probes of the server's port, bounded by $wait
done
if [ "$fresh" = 1 ]; then rm -rf "$dir/ssl"; fi
mkdir -p "$dir" && rm -f "$dir/last_run_summary.yaml"
puppet agent --onetime --no-daemonize --no-splay --detailed-exitcodes --waitforcert 0 --no-usecacheonfailure \
  --logdest console --color false --keylength 2048 --http_keepalive_timeout 0 \
  --server "$server" --certname "$certname" --ssldir "$dir/ssl" \
  --lastrunfile "$dir/last_run_summary.yaml" > "$dir/run.log" 2>&1
echo "agent exit $?"
grep '^Error: ' "$dir/run.log" | tail -n 4 | sed 's/^/agent error /'
if [ -f "$dir/last_run_summary.yaml" ]; then sed 's/^/agent summary /' "$dir/last_run_summary.yaml"; fi
