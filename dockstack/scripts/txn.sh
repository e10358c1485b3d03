#!/bin/sh
# One locked transaction on each copy of the address book one host keeps, one copy after the other, in one round
# trip: a dnsmasq container's folder, the host's replica (addressbook.REPLICA_DIR, no container's folder), or both.
# Called as: sh -c "$TXN_SCRIPT" sh LOCK_TIMEOUT HOLDER KNOWN FOLDER DNSMASQ [FOLDER DNSMASQ]... (addressbook.txn_argv)
#   DNSMASQ: the container that serves the copy, "" for a replica (no container to reload or to release a lease in);
#   KNOWN: the newest generation the caller has seen: a copy that changes gets max(its own, KNOWN) + 1, so a copy
#   repaired from the newest is as new as it, and the newest copy is always the one written last.
# Standard input: a tar.gz with ops/N for the Nth copy (put NAME | del NAME | release NAME IP MAC [CLIENT-ID] |
# unquarantine | quarantine IP) and the rendered files they install (put/, quarantine/), which the copies share.
# addressbook.py writes ipam.QUARANTINE in place of each QUARANTINE below.
# Prints, per copy, `copy N`, then `put NAME`, `del NAME`, `release NAME`, `conflict NAME ...`, `reloaded`,
# `generation N`, `record ...` and `released IP` lines, then `done` (addressbook.parse_txns); `locked HOLDER` and
# exit 75 when a lock stays taken (the copies after it are not written).
set -u
timeout=$1 holder=$2 known=$3
shift 3
case $known in ''|*[!0-9]*) known=0 ;; esac
[ $# -ge 2 ] || { echo "failed: no copy named"; exit 1; }
own() {  # FOLDER: the copy's own folders and files are what they should be, none a symlink (a dnsmasq container
  # reads its folder only, but one made before that could write it: what it planted then is never followed)
  for p in "$1" "$1/registry" "$1/last-good" "$1/dhcp-hosts.d" "$1/hosts.d" "$1/tmp"; do
    if [ -L "$p" ] || { [ -e "$p" ] && [ ! -d "$p" ]; }; then
      echo "failed: $p is not a folder of its own (a symlink?): remove it"; exit 1
    fi
  done
  for p in "$1/lock" "$1/lock.holder" "$1/generation" "$1/released"; do
    if [ -L "$p" ] || { [ -e "$p" ] && [ ! -f "$p" ]; }; then
      echo "failed: $p is not a regular file (a symlink, a FIFO?): remove it"; exit 1
    fi
  done
}
own "$1"
mkdir -p "$1/tmp" || exit 1
in=$(mktemp "$1/tmp/in.XXXXXX") || exit 1
trap 'rm -f "$in"' EXIT
cat > "$in" || { echo "failed: cannot read the change"; exit 1; }
place() {  # SRC DEST READ_BY_DNSMASQ: rename into place when it differs (a symlink or a FIFO there is never read,
  # only replaced; -T: never into a folder of that name); dnsmasq re-reads a replaced file on HUP
  if [ -f "$2" ] && [ ! -L "$2" ] && cmp -s "$1" "$2"; then return; fi
  if { [ -e "$2" ] || [ -L "$2" ]; } && [ "$3" = 1 ]; then hup=1; fi
  mv -fT "$1" "$2"; changed=1
}
drop() {  # PATH READ_BY_DNSMASQ
  if [ -e "$1" ]; then rm -f "$1"; changed=1; [ "$2" = 1 ] && hup=1; fi; return 0
}
forget() { drop "$d/last-good/$1" 0; drop "$d/registry/$1" 0; drop "$d/dhcp-hosts.d/$1" 1; drop "$d/hosts.d/$1" 1; }
records() {  # the registry's records: each file's line for its own name only (the folder is its dnsmasq
  # container's to write: a file named otherwise, or a line for another name, forges nothing). One awk reads them
  # all: an awk per file made each put cost a process per record (a tier of 40 puts on a book of 120 took 12 s).
  set --
  for f in "$d"/registry/*; do
    if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
    case ${f##*/} in *[!a-z0-9-]*) continue ;; esac
    set -- "$@" "$f"
  done
  [ $# -gt 0 ] || return 0
  awk 'FNR == 1 { n = FILENAME; sub(/.*\//, "", n) } $1 == n' "$@"
}
is_running() {  # sets running (true, or empty) once per copy: its dnsmasq container runs
  if [ "$running" = unknown ]; then
    running=
    if [ -n "$name" ]; then running=$(docker container inspect --format '{{.State.Running}}' "$name" 2>/dev/null); fi
  fi
}
txn() {  # FOLDER DNSMASQ N: the transaction on one copy (run in a subshell: its lock, trap and exit are its own)
  d="$1" name="$2" k="$3"
  own "$d"
  mkdir -p "$d/registry" "$d/last-good" "$d/dhcp-hosts.d" "$d/hosts.d" "$d/tmp" || exit 1
  exec 9>>"$d/lock"
  if ! flock -w "$timeout" 9; then
    echo "locked $(cat "$d/lock.holder" 2>/dev/null)"
    exit 75
  fi
  printf '%s\n' "$holder" > "$d/lock.holder"
  t=$(mktemp -d "$d/tmp/txn.XXXXXX") || exit 1
  trap 'rm -rf "$t"; : > "$d/lock.holder"' EXIT
  tar -xzf "$in" -C "$t" || { echo "failed: cannot unpack the change"; exit 1; }
  [ -f "$t/ops/$k" ] || { echo "failed: no operations for copy $k"; exit 1; }
  running=unknown  # asked of docker only when a release needs it (a docker call is tens of ms)
  hup=0 changed=0
  while read -r op n ip mac cid; do
    case $op in
    put)
      # shellcheck disable=SC2046  # the record's one line, split into its fields NAME ROLE HOST MAC IP SOURCE
      set -- $(cat "$t/put/$n.record")
      other=$(records | awk -v n="$n" -v m="$4" -v i="$5" \
        '$1 != n && ($4 == m || $5 == i) {print $1 " " ($5 == i ? "ip" : "mac") " " ($5 == i ? $5 : $4); exit}')
      if [ -n "$other" ]; then echo "conflict $n $other"; continue; fi
      drop "$d/dhcp-hosts.d/released-$5" 1
      cp "$t/put/$n.record" "$t/put/$n.good" && place "$t/put/$n.good" "$d/last-good/$n" 0  # before the record
      place "$t/put/$n.record" "$d/registry/$n" 0
      place "$t/put/$n.dhcp" "$d/dhcp-hosts.d/$n" 1
      place "$t/put/$n.host" "$d/hosts.d/$n" 1
      echo "put $n" ;;
    del)
      forget "$n"; echo "del $n" ;;
    unquarantine)
      rm -f "$d/released"; changed=1 ;;
    quarantine)
      { grep -vxF "$n" "$d/released" 2>/dev/null; echo "$n"; } | tail -n "$QUARANTINE" > "$t/released"
      mv -f "$t/released" "$d/released"
      place "$t/quarantine/$n" "$d/dhcp-hosts.d/released-$n" 1
      changed=1 ;;
    release)
      forget "$n"
      is_running
      if [ "$running" = true ]; then
        docker exec "$name" dhcp_release eth0 "$ip" "$mac" ${cid:+"$cid"} >/dev/null 2>&1 || true
      elif [ -f "$d/lease/leases" ] && [ ! -L "$d/lease/leases" ]; then
        # lease/ is the container's to write: read without following a symlink or waiting on a FIFO swapped in
        # since, within a bound; a file larger than that is left as it is (a cut copy would lose leases)
        if timeout -k 1 5 dd if="$d/lease/leases" iflag=nofollow,nonblock bs=4194304 count=1 status=none \
             > "$t/leases.old" && [ "$(wc -c < "$t/leases.old")" -lt 4194304 ]; then
          awk -v m="$mac" -v i="$ip" '!($2 == m && $3 == i)' "$t/leases.old" > "$t/leases" &&
            mv -f "$t/leases" "$d/lease/leases"
        fi
      fi
      { grep -vxF "$ip" "$d/released" 2>/dev/null; echo "$ip"; } | tail -n "$QUARANTINE" > "$t/released"
      mv -f "$t/released" "$d/released"
      place "$t/quarantine/$ip" "$d/dhcp-hosts.d/released-$ip" 1
      changed=1; echo "release $n" ;;
    esac
  done < "$t/ops/$k"
  for f in "$d"/dhcp-hosts.d/released-*; do
    [ -e "$f" ] || continue
    grep -qxF "${f##*/released-}" "$d/released" 2>/dev/null || drop "$f" 1
  done
  gen=$(cat "$d/generation" 2>/dev/null || echo 0)
  case $gen in ''|*[!0-9]*) gen=0 ;; esac
  if [ "$changed" = 1 ]; then
    if [ "$known" -gt "$gen" ]; then gen=$known; fi
    gen=$((gen + 1)); echo "$gen" > "$t/generation"; mv -f "$t/generation" "$d/generation"
  fi
  # a container that does not run fails the signal: no `reloaded` (one docker call, not an inspect before it)
  if [ "$hup" = 1 ] && [ -n "$name" ] && docker kill --signal HUP "$name" >/dev/null 2>&1; then echo reloaded; fi
  echo "generation $gen"
  records | sed 's/^/record /'
  sed 's/^/released /' "$d/released" 2>/dev/null
  echo "done"
}
i=0
while [ $# -ge 2 ]; do
  i=$((i + 1))
  echo "copy $i"
  (txn "$1" "$2" "$i") || exit $?
  shift 2
done
