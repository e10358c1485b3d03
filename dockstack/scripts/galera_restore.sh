#!/bin/sh
# A backup made by galera_backup.sh, unpacked and prepared on a Galera node's host beside the node's data (which it
# does not touch): the gzip stream on standard input goes through `mbstream -x` into STAGED (a new folder), then
# `mariadb-backup --prepare` makes it a consistent datadir, in a throw-away container of the node's image (no network).
# Its grastate.dat is then written from the position the backup recorded, which must be UUID:SEQNO as given, with
# safe_to_bootstrap: 1 (dockstack's galera hook starts the cluster from it), and every file is made mysql's.
# Called as: sh -c "$RESTORE_SCRIPT" sh IMAGE STAGED DATADIR UUID SEQNO (galera's backup.restore_argv)
# Prints `restored UUID:SEQNO` when done; on failure the tool's last lines on standard error, exit 1, STAGED removed.
image=$1 staged=$2 datadir=$3 uuid=$4 seqno=$5
if [ -e "$staged" ] || [ -L "$staged" ]; then
  echo "$staged already exists: a restore is under way or was left half done" >&2; exit 1
fi
mkdir "$staged" || exit 1  # a new folder (its parent, the node's folder, is read-only to the node's container)
if ! docker run --rm -i --network none --entrypoint sh --volume "$staged:$datadir" "$image" -c '
  dir=$1 want=$2
  log=$(mktemp)
  if ! gzip -dc | mbstream -x -C "$dir" 2>"$log"; then echo "mbstream -x failed:" >&2; tail -n 5 "$log" >&2; exit 1; fi
  if ! mariadb-backup --prepare --target-dir="$dir" >"$log" 2>&1; then
    echo "mariadb-backup --prepare failed:" >&2; tail -n 5 "$log" >&2; exit 1
  fi
  info=$dir/mariadb_backup_galera_info
  [ -f "$info" ] || info=$dir/xtrabackup_galera_info
  got=$(head -n 1 "$info" 2>/dev/null | cut -d " " -f 1)
  if [ "$got" != "$want" ]; then
    echo "the backup says its position is ${got:-nothing}, its manifest says $want: not restored" >&2; exit 1
  fi
  uuid=${want%:*} seqno=${want##*:}
  printf "# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   %s\nsafe_to_bootstrap: 1\n" "$uuid" "$seqno" \
    > "$dir/grastate.dat"
  chown -R mysql:mysql "$dir"' sh "$datadir" "$uuid:$seqno"; then
  rm -rf "$staged"
  exit 1
fi
echo "restored $uuid:$seqno"
