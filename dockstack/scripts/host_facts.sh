#!/bin/sh
# Everything dockstack needs to know about one host, in one round trip.
# Called as: sh -c "$HOST_FACTS_SCRIPT" sh LABEL SERVICE_ROOT BRIDGE VXLAN_DEVICE UPLINK BOOKS REPLICA CATALOG
#   NSTATE [SERVICE FILE]... NDIGEST [SERVICE GLOB]... [IMAGE_TAG...]
#   (facts.host_facts_argv; UPLINK may be empty): BOOKS is the service whose folders keep the address book
#   (dnsmasq's), REPLICA the folder of the host's own replica of it, CATALOG the file a container's folder holds
#   once its Puppet agent passed (the digest of what its catalog depended on), then the state files services' hooks
#   read (e.g. galera's data/grastate.dat) and the files whose digests say whether a push is needed, all from the
#   services' definitions
# Prints sections, each after its `#NAME` line: dockerd, containers, names, addresses, images, network, books,
# replica, state, catalogs, files; then `#end` (facts.parse_host_facts).
# A container can write parts of its service folder (its data folders: galera's data/, dnsmasq's lease/): what is
# read there is read only when it is a regular file, never through a symlink, never waiting on a FIFO, at most
# READ_MAX bytes within READ_BOUND seconds (see `bounded`), so nothing planted there hangs or floods these facts.
READ_MAX=65536 READ_BOUND=5
plain() {  # FILE: a regular file itself, no symlink (to one), no FIFO, device or folder
  [ -f "$1" ] && [ ! -L "$1" ]
}
bounded() {  # FILE: its first READ_MAX bytes when it is a plain file: opened without following a symlink
  # (nofollow) and without waiting for a writer (nonblock), in case it was swapped since plain() looked
  plain "$1" && timeout -k 1 "$READ_BOUND" dd if="$1" iflag=nofollow,nonblock bs="$READ_MAX" count=1 status=none
}
kind() {  # FILE: what it is, said without following it
  if [ -L "$1" ]; then echo "a symlink"; elif [ -p "$1" ]; then echo "a FIFO"; elif [ -S "$1" ]; then echo "a socket"
  elif [ -c "$1" ] || [ -b "$1" ]; then echo "a device"; elif [ -d "$1" ]; then echo "a folder"
  else echo "not a regular file"; fi
}
label=$1 root=$2 br=$3 vx=$4 uplink=$5 books=$6 replica=$7 catalog=$8 nstate=$9
shift 9
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
  # (the book's files are the host's to write: the dnsmasq container sees them read-only; each is still read only
  # when it is a plain file, so one planted before that is skipped, never followed)
  n="$1" d="$2"
  echo "$n generation $(plain "$d/generation" && cat "$d/generation" || echo 0)"
  for f in "$d"/registry/*; do  # one line per file, named, whatever it holds (a damaged file shows as such)
    plain "$f" || continue
    case ${f##*/} in *[!a-z0-9-]*) continue ;; esac  # no record's name: a newline in it would forge lines
    printf '%s file %s %s\n' "$n" "${f##*/}" "$(head -c 300 "$f" | tr -c '[:print:]' '?')"
    g="$d/last-good/${f##*/}"  # its last good copy, only when it differs (missing: an empty line)
    if plain "$g"; then cmp -s "$f" "$g" && continue; lg=$(head -c 300 "$g" | tr -c '[:print:]' '?'); else lg=; fi
    printf '%s last-good %s %s\n' "$n" "${f##*/}" "$lg"
  done
  if plain "$d/released"; then sed "s/^/$n released /" "$d/released"; fi
  # dnsmasq's lease file (lease/: the one folder its container may write), and where one made before kept it: a
  # symlink, a FIFO or anything else the container may have planted in its place is no lease file
  for lf in "$d/lease/leases" "$d/leases"; do
    if plain "$lf"; then bounded "$lf" | tr -c '[:print:]\n' '?' | cut -c 1-1000 | sed "s/^/$n lease /"; fi
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
# SERVICE/FILE: each of that service's containers' FILE (e.g. galera's data/grastate.dat, which its container
# writes): `NAME dir`, then `NAME = LINE` for each of its lines, or `NAME refused WHY` when FILE or a folder on its
# way is not what it should be (it is then not read)
for sf in $state; do
  for d in "$root/${sf%%/*}"/*/; do
    [ -d "$d" ] || continue
    n=$(basename "$d") f=${sf#*/}
    echo "$n dir"
    p=${d%/} rest=$f why=
    while [ -n "$rest" ]; do  # every folder on the way, then the file: none may be a symlink
      p=$p/${rest%%/*}
      case $rest in */*) rest=${rest#*/} ;; *) rest= ;; esac
      if [ ! -e "$p" ] && [ ! -L "$p" ]; then break; fi  # absent: no state yet
      if [ -n "$rest" ] && { [ -L "$p" ] || [ ! -d "$p" ]; }; then why="${p#"${d%/}"/} is $(kind "$p")"; break; fi
      if [ -z "$rest" ] && ! plain "$p"; then why="$f is $(kind "$p"), not a regular file"; fi
    done
    if [ -n "$why" ]; then echo "$n refused $why: not read"; continue; fi
    [ -e "$p" ] || continue
    if ! text=$(bounded "$p"); then
      echo "$n refused $f could not be read (it changed, or took over ${READ_BOUND}s): not read"; continue
    fi
    # printf ends every line, the last one too: a node killed mid-write can leave grastate.dat without its final
    # newline, which glued the next section's header to it (every service file then looked changed)
    if [ -n "$text" ]; then printf '%s\n' "$text" | tr -c '[:print:]\n' '?' | awk -v n="$n" '{ print n " = " $0 }'; fi
  done
done
echo '#catalogs'
# SERVICE/NAME DIGEST: what each container folder's CATALOG holds (written by the host's action script as root, in
# the part of the folder its container sees read-only, if at all); only a plain file, its first line, cut, hex only
if [ -n "$catalog" ]; then
  for f in "$root"/*/*/"$catalog"; do
    plain "$f" || continue
    d=${f%/*}
    case ${d#"$root"/} in *[!a-z0-9/-]*) continue ;; esac  # no service's or container's name: skipped
    printf '%s %s\n' "${d#"$root"/}" "$(bounded "$f" | head -n 1 | cut -c 1-80 | tr -c '0-9a-f\n' '?')"
  done
fi
echo '#files'
for sg in $digest; do  # SERVICE/GLOB: the files dockstack renders for that service's containers and compares
  # (regular files only, found without following a symlink; within a bound, in case one was swapped meanwhile)
  timeout -k 1 10 find -P "$root/${sg%%/*}" -type f -path "$root/${sg%%/*}/*/${sg#*/}" ! -path '*/.incoming*' \
    -exec sha256sum {} + 2>/dev/null
done
echo '#end'
