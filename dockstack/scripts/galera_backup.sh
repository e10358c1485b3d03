#!/bin/sh
# A hot backup of one running Galera node, streamed to standard output: `mariadb-backup --backup --galera-info
# --stream=xbstream` inside the node's container (as MariaDB's root over the local socket), compressed by gzip there,
# so the bytes leave the host as they are made and never sit in a file on it. The stream carries
# mariadb_backup_galera_info (the node's wsrep position: UUID:SEQNO) among the data files.
# Called as: sh -c "$BACKUP_SCRIPT" sh CONTAINER (galera's backup.backup_argv)
# Prints the gzip stream on standard output, nothing else; when mariadb-backup fails, its last lines on standard
# error and exit code 1 (the stream is incomplete and must not be kept).
name=$1
exec docker exec "$name" sh -c '
  work=$(mktemp -d) || exit 1
  { mariadb-backup --backup --galera-info --user=root --stream=xbstream --target-dir="$work/target" \
      2>"$work/log"; echo $? >"$work/rc"; } | gzip -1
  rc=$(cat "$work/rc")
  if [ "$rc" != 0 ] || ! tail -n 1 "$work/log" | grep -q "completed OK"; then
    echo "mariadb-backup exited with $rc:" >&2
    tail -n 8 "$work/log" >&2
    rm -rf "$work"
    exit 1
  fi
  rm -rf "$work"'
