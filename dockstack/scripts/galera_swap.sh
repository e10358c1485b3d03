#!/bin/sh
# Puts a Galera node's data aside (renamed, never deleted) and gives it new data: the folder galera_restore.sh
# prepared (STAGED), or an empty one (the node then joins by a full state transfer, SST). Only for a stopped node.
# Called as: sh -c "$SWAP_SCRIPT" sh CONTAINER DATA ASIDE [STAGED] (galera's backup.swap_argv)
# Prints `aside ASIDE` when there was data to put aside, then `done`.
name=$1 data=$2 aside=$3 staged=${4:-}
if [ "$(docker inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; then
  echo "$name is running: its data is not swapped" >&2; exit 1
fi
if [ -e "$aside" ] || [ -L "$aside" ]; then echo "$aside already exists: not overwritten" >&2; exit 1; fi
if [ -e "$data" ]; then
  mv "$data" "$aside" || exit 1
  echo "aside $aside"
fi
if [ -n "$staged" ]; then mv "$staged" "$data" || exit 1; else mkdir -p "$data" || exit 1; fi
echo "done"
