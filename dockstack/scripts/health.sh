#!/bin/sh
# Every running dockstack container's readiness check, run once, concurrently, in one round trip per host.
# Called as (health.health_argv):
#   sh -c "$HEALTH_SCRIPT" sh LABEL LIMIT BOUND WINDOW KEEP [NAME CHECK]...
# LIMIT: seconds one check may take inside its container; BOUND: the host-side bound of its `docker exec` (for a
# container without timeout(1)); WINDOW: bytes of a check's output kept (its end); KEEP: bytes of its line sent.
# Only containers with the label that run get a check. Prints one line per checked container:
# `health NAME EXIT BASE64-OF-ITS-LAST-NONBLANK-LINE` (`-` for no line); a line cut by the window's start is
# dropped (a part of a line could be a part of a secret, which masking would not recognise).
label=$1 limit=$2 bound=$3 window=$4 keep=$5
shift 5
dir=$(mktemp -d -t dockstack-health.XXXXXX) || { echo "failed mktemp"; exit 1; }
trap 'rm -rf "$dir"' EXIT
trap 'exit 129' HUP INT TERM PIPE  # a client that went away (Ctrl-C on deploy-all): the folder goes all the same
running=$(docker ps --filter "label=$label" --filter status=running --format '{{.Names}}' 2>/dev/null)
n=0
while [ "$#" -ge 2 ]; do
  name=$1 check=$2
  shift 2
  printf '%s\n' "$running" | grep -qxF -e "$name" || continue
  n=$((n + 1))
  printf '%s' "$name" > "$dir/$n.name"
  {
    # shellcheck disable=SC2016  # $1 and $2 are the wrapper's own arguments, expanded in the container
    timeout -k 1 "$bound" docker exec "$name" sh -c \
      'if command -v timeout >/dev/null 2>&1; then exec timeout -k 1 "$1" sh -c "$2"; fi; exec sh -c "$2"' \
      sh "$limit" "$check" < /dev/null 2>&1
    echo "$?" > "$dir/$n.rc"
  } | tail -c "$window" > "$dir/$n.out" &
done
wait
i=1
while [ "$i" -le "$n" ]; do
  size=$(wc -c < "$dir/$i.out")
  line=$(tr -d '\000' < "$dir/$i.out" |
    awk -v cut="$(( size >= window ))" -v keep="$keep" 'NR == 1 && cut { next } NF { l = substr($0, 1, keep) }
      END { printf "%s", l }' | base64 -w0)
  echo "health $(cat "$dir/$i.name") $(cat "$dir/$i.rc" 2>/dev/null || echo 255) ${line:--}"
  i=$((i + 1))
done
