#!/bin/sh
# Installs a service container's new files in its host folder: each file its definition checks (FileCheck) is checked
# inside the running container first (e.g. `haproxy -c`), then all are renamed into place, then the container's
# PID 1 gets the definition's reload signal (haproxy's supervisor: haproxy reloads, keepalived re-reads its file).
# Called as: sh -c "$SERVICE_FILES_SCRIPT" sh NAME DIR MOUNT SIGNAL N [FILE LABEL COMMAND]... PATH... (actions.service_files_argv)
# Standard input: a tar.gz of the files, relative to DIR. Prints `failed LABEL` and `said LINE` lines and exits 1
# when a check or the unpacking fails (nothing replaced), else `reloaded` (when signalled) and `done`.
set -u
name=$1 dir=$2 mount=$3 signal=$4 nchecks=$5
shift 5
mkdir -p "$dir"
new=$(mktemp -d "$dir/.incoming.XXXXXX") || exit 1  # its own folder: two runs may push at once
trap 'rm -rf "$new"' EXIT
trap 'exit 129' HUP INT TERM PIPE  # a client that went away: its half-written folder goes all the same
out=$(tar -xzf - -C "$new" --no-same-owner 2>&1) || { echo "failed write files"; echo "said $out"; exit 1; }
running=$(docker container inspect --format '{{.State.Running}}' "$name" 2>/dev/null)
while [ "$nchecks" -gt 0 ]; do
  file=$1 label=$2 command=$3
  shift 3
  nchecks=$((nchecks - 1))
  if [ "$running" = true ] && [ -f "$new/$file" ]; then
    out=$(docker exec "$name" sh -c "$command" sh "$mount/${new##*/}/$file" 2>&1) ||
      { rm -rf "$new"; echo "failed $label"; printf '%s\n' "$out" | tail -n 3 | sed 's/^/said /'; exit 1; }
  fi
done
for f in "$@"; do mkdir -p "$(dirname "$dir/$f")"; mv -f "$new/$f" "$dir/$f"; done
rm -rf "$new"
if [ -n "$signal" ] && [ "$running" = true ]; then
  docker kill --signal "$signal" "$name" >/dev/null && echo reloaded
fi
echo "done"
