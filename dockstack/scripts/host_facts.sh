#!/bin/sh
# Everything dockstack needs to know about one host, in one round trip.
# Called as: sh -c "$HOST_FACTS_SCRIPT" sh LABEL SERVICE_ROOT BRIDGE VXLAN_DEVICE UPLINK BOOKS REPLICA
#   NSTATE [SERVICE FILE]... NDIGEST [SERVICE GLOB]... [IMAGE_TAG...]
#   (facts.host_facts_argv; UPLINK may be empty): BOOKS is the service whose folders keep the address book
#   (dnsmasq's), REPLICA the folder of the host's own replica of it, then the state files services' hooks read
#   (e.g. galera's data/grastate.dat) and the files whose digests say whether a push is needed, all from the
#   services' definitions
# Prints sections, each after its `#NAME` line: dockerd, containers, names, addresses, images, network, books,
# replica, state, files; then `#end` (facts.parse_host_facts).
label=$1 root=$2 br=$3 vx=$4 uplink=$5 books=$6 replica=$7 nstate=$8
shift 8
state=
while [ "$nstate" -gt 0 ]; do state="$state $1/$2"; shift 2; nstate=$((nstate - 1)); done
ndigest="$1"  # after the state pairs
shift
digest=
while [ "$ndigest" -gt 0 ]; do digest="$digest $1/$2"; shift 2; ndigest=$((ndigest - 1)); done
echo '#dockerd'
# one `docker ps` for the managed containers' IDs, every name, and whether dockerd answers (a docker call costs
# 15-300 ms: the facts ask three times, not six)
if listing=$(docker ps -a --no-trunc --format "{{.ID}} {{.Label \"${label%%=*}\"}} {{.Names}}" 2>&1); then echo up
else echo "down $(echo "$listing" | tail -n 1)"; listing=; fi
ids=$(printf '%s\n' "$listing" | awk -v v="${label#*=}" 'NF == 3 && $2 == v {print $1}')
echo '#containers'
inspected='[]'
# shellcheck disable=SC2086  # one container ID per line: split into arguments on purpose (IDs are hex)
if [ -n "$ids" ]; then inspected=$(docker container inspect $ids); fi
printf '%s\n' "$inspected"
echo '#names'
printf '%s\n' "$listing" | awk 'NF {print $NF}'
echo '#addresses'
# each PID from the inspect above (its own line in docker's indented JSON: a string value never starts a line)
for pid in $(printf '%s\n' "$inspected" | sed -n 's/^ *"Pid": \([0-9][0-9]*\),\{0,1\}$/\1/p'); do
  [ "$pid" -gt 0 ] || continue
  nsenter -t "$pid" -n ip -o link show dev eth0 2>/dev/null | sed "s/^/$pid /"
  nsenter -t "$pid" -n ip -o -4 addr show dev eth0 2>/dev/null | sed "s/^/$pid /"
done
echo '#images'
# one listing for all tags (a docker call costs 50-300 ms on a busy host); a tag it does not show as written
# (a digest, docker.io/library/... or an absent image) is asked for on its own
listing=$(docker images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}' 2>/dev/null)
for tag in "$@"; do
  id=$(printf '%s\n' "$listing" | awk -v t="$tag" '$1 == t {print $2; exit}')
  if [ -z "$id" ]; then id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null); fi
  echo "$tag $id"
done
echo '#network'
ip -o link show dev "$br" 2>/dev/null | sed 's/^/bridge /'
ip -o link show dev "$vx" 2>/dev/null | sed 's/^/vxlan /'
bridge fdb show dev "$vx" 2>/dev/null | awk '$1 == "00:00:00:00:00:00" && $2 == "dst" {print "peer " $3}'
if [ -n "$uplink" ]; then ip -o link show dev "$uplink" 2>/dev/null | sed 's/^/uplink /'; fi
# the chains that hold the rules dockstack owns (firewall.READ_CHAINS), whole: the VXLAN filter, INPUT (its jump and
# what comes before it), and where the bridge's ACCEPT can be; a chain that is not there prints nothing
for chain in DOCKSTACK-VXLAN INPUT DOCKER-USER FORWARD; do iptables -w -S "$chain" 2>/dev/null | sed 's/^/rule /'; done
echo '#books'
book() {  # NAME FOLDER: one copy of the address book, each line after NAME
  n="$1" d="$2"
  echo "$n generation $(cat "$d/generation" 2>/dev/null || echo 0)"
  for f in "$d"/registry/*; do  # one line per file, named, whatever it holds (a damaged file shows as such)
    [ -f "$f" ] || continue
    case ${f##*/} in *[!a-z0-9-]*) continue ;; esac  # no record's name: a newline in it would forge lines
    printf '%s file %s %s\n' "$n" "${f##*/}" "$(head -c 300 "$f" | tr -c '[:print:]' '?')"
    g="$d/last-good/${f##*/}"  # its last good copy, only when it differs (missing: an empty line)
    cmp -s "$f" "$g" ||
      printf '%s last-good %s %s\n' "$n" "${f##*/}" "$(head -c 300 "$g" 2>/dev/null | tr -c '[:print:]' '?')"
  done
  sed "s/^/$n released /" "$d/released" 2>/dev/null
  # dnsmasq's lease file (lease/: the one folder its container may write), and where one made before kept it; a
  # symlink is no lease file (the container may have planted it): never followed
  for lf in "$d/lease/leases" "$d/leases"; do
    if [ -f "$lf" ] && [ ! -L "$lf" ]; then tr -c '[:print:]\n' '?' < "$lf" | cut -c 1-1000 | sed "s/^/$n lease /"; fi
  done
  return 0
}
for d in "$root/${books:-.none}"/*/; do
  [ -d "$d/registry" ] || continue
  book "$(basename "$d")" "$d"
done
echo '#replica'
if [ -n "$replica" ] && [ -d "$replica/registry" ]; then book replica "$replica"; fi
echo '#state'
for sf in $state; do  # SERVICE/FILE: each of that service's containers' FILE (e.g. galera's grastate.dat)
  for d in "$root/${sf%%/*}"/*/; do
    [ -d "$d" ] || continue
    n=$(basename "$d")
    echo "$n dir"
    # awk ends every line, the last one too: a node killed mid-write can leave grastate.dat without its final
    # newline, which glued the next section's header to it (every service file then looked changed)
    awk -v n="$n" '{ print n " " $0 }' "$d/${sf#*/}" 2>/dev/null | tr -c '[:print:]\n' '?'
  done
done
echo '#files'
for sg in $digest; do  # SERVICE/GLOB: the files dockstack renders for that service's containers and compares
  find "$root/${sg%%/*}" -type f -path "$root/${sg%%/*}/*/${sg#*/}" ! -path '*/.incoming*' \
    -exec sha256sum {} + 2>/dev/null
done
echo '#end'
