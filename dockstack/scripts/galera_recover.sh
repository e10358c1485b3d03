#!/bin/sh
# One stopped Galera node's last committed seqno, from its data (no cluster, no network): `mariadbd --wsrep-recover`
# in a throw-away container of the node's image on the node's data folder.
# Called as: sh -c "$RECOVER_SCRIPT" sh IMAGE DATA_FOLDER DATADIR (galera's bootstrap.recover_argv)
# Prints the last 3 of MariaDB's `WSREP: Recovered position` and ERROR lines.
image=$1 data=$2 datadir=$3
# the node's container writes its data, never the folder that holds it (read-only to it): a symlink there was not
# made by dockstack, and docker's --volume would follow it
if [ -L "$data" ] || [ ! -d "$data" ]; then echo "ERROR: $data is not a folder of its own (a symlink?): not read"; exit 1; fi
docker run --rm --network none --entrypoint sh --volume "$data:$datadir" "$image" -c '
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  exec mariadbd --user=mysql --wsrep-on=ON --wsrep-provider=/usr/lib/galera/libgalera_smm.so --binlog-format=ROW \
    --wsrep-cluster-address=gcomm:// \
    --wsrep-recover --log-error=/dev/stderr' 2>&1 | grep -E 'Recovered position|ERROR' | tail -n 3
