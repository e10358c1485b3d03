#!/bin/sh
# Stops a container cleanly: first every process in it is continued (one stopped by SIGSTOP, a hung service,
# would never see the stop signal, and docker would wait out the whole stop timeout to kill it), then
# `docker stop` (its service's signal and stop timeout, given to `docker run --stop-timeout`: Galera writes its
# seqno, keepalived says priority 0 so its peer takes the VIP at once). With `remove`: then `docker rm --force`,
# also when the stop failed (a container that was not running).
# Called as: sh -c "$STOP_SCRIPT" sh NAME [remove] (actions.StopSpec: the converge's runner). Prints what docker prints.
name=$1
for pid in $(docker top "$name" -eo pid 2>/dev/null | tail -n +2); do
  kill -CONT "$pid" 2>/dev/null
done
if [ "${2:-}" = remove ]; then
  docker stop "$name" >/dev/null 2>&1
  exec docker rm --force "$name"
fi
exec docker stop "$name"
