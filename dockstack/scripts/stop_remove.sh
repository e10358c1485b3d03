#!/bin/sh
# Removes a container whose service stops cleanly: `docker stop` first (its service's signal and stop timeout,
# given to `docker run --stop-timeout`: e.g. Galera writes its seqno), then `docker rm --force`.
# Called as: sh -c "$STOP_REMOVE_SCRIPT" sh NAME (executor.Executor.remove). Prints what docker rm prints.
docker stop "$1" >/dev/null 2>&1
exec docker rm --force "$1"
