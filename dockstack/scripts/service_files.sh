#!/bin/sh
# Installs a service container's new files in its host folder DIR, never through anything its container planted
# there (a container may write parts of DIR: a symlink it leaves on the way would turn a root write on the host into
# a write anywhere). The tar is unpacked into a new folder beside DIR that no container sees; each file its
# definition checks (FileCheck) is checked inside the running container first (e.g. `haproxy -c`: the unpacked files
# are streamed into a temporary folder there, the check gets its copy); then every folder on the way is made or
# entered, one step at a time, without following a symlink (cd -P, and the step must land where it should: a folder
# swapped for a symlink in between is found out, and once entered the writes go to that folder whatever is renamed
# around it), before any file is renamed into place; then the container's PID 1 gets the definition's reload signal
# (haproxy's supervisor: haproxy reloads, keepalived re-reads its file).
# Called as: sh -c "$SERVICE_FILES_SCRIPT" sh NAME DIR SIGNAL N [FILE LABEL COMMAND]... [PATH...]
#   (actions.service_files_argv; the action script runs it with SIGNAL "", N 0 and no PATH for the files of a
#   create or start: then every file and folder of the tar is installed)
# Standard input: a tar.gz of the files, relative to DIR. Prints `failed LABEL` and `said LINE` lines and exits 1
# when the unpacking, a check or a folder on the way fails (nothing replaced), else `reloaded` (when signalled) and
# `done`.
set -u
name=$1 dir=$2 signal=$3 nchecks=$4
shift 4
fail() { echo "failed $1"; shift; printf '%s\n' "$@" | tail -n 3 | sed 's/^/said /'; exit 1; }
mkdir -p "$dir" || fail "write files" "cannot make $dir"
real=$(cd -P "$dir" && pwd -P) || fail "write files" "cannot enter $dir"  # (the host's own links above it stay)
new=$(mktemp -d "${real%/*}/.incoming-${real##*/}.XXXXXX") || fail "write files" "mktemp failed beside $dir"
trap 'rm -rf "$new"' EXIT
trap 'exit 129' HUP INT TERM PIPE  # a client that went away: its half-written folder goes all the same
out=$(tar -xzf - -C "$new" --no-same-owner 2>&1) || fail "write files" "$out"
running=
if [ "$nchecks" -gt 0 ] || [ -n "$signal" ]; then
  running=$(docker container inspect --format '{{.State.Running}}' "$name" 2>/dev/null)
fi
while [ "$nchecks" -gt 0 ]; do
  file=$1 label=$2 command=$3
  shift 3
  nchecks=$((nchecks - 1))
  if [ "$running" = true ] && [ -f "$new/$file" ]; then
    # shellcheck disable=SC2016  # $1 and $2 are the container's shell's own arguments
    out=$(tar -cf - -C "$new" . | docker exec -i "$name" sh -c '
      d=$(mktemp -d) || exit 1
      if tar -xf - -C "$d"; then sh -c "$1" sh "$d/$2"; rc=$?; else rc=1; fi
      rm -rf "$d"; exit "$rc"' sh "$command" "$file" 2>&1) || fail "$label" "$out"
  fi
done
if [ $# -eq 0 ]; then  # every folder (as /SUB) and file of the tar, parents first (dockstack's paths: one a line)
  list=$(cd "$new" && find . -mindepth 1 \( -type d -printf '/%P\n' \) -o \( -type f -printf '%P\n' \)) ||
    fail "write files" "cannot list what was unpacked"
  IFS='
'
  set -f
  # shellcheck disable=SC2086  # one path a line: split at newlines only, no glob
  set -- $list
  unset IFS
  set +f
fi
enter() {  # SUB: into DIR/SUB from DIR's real path, each missing folder made, no step through a symlink
  cd "$real" || return 1
  here=$real rest="$1"
  while [ -n "$rest" ]; do
    part=${rest%%/*}
    case $rest in */*) rest=${rest#*/} ;; *) rest= ;; esac
    case $part in '' | . | ..) return 1 ;; esac
    if [ ! -e "$part" ] && [ ! -L "$part" ]; then mkdir "$part" 2>/dev/null; fi
    cd -P "$part" 2>/dev/null && [ "$PWD" = "$here/$part" ] || return 1  # cd -P: PWD is where it landed
    here=$here/$part
  done
}
for f; do  # first every folder on the way (a folder given as /SUB), so a refusal replaces nothing
  case $f in
    /*) enter "${f#/}" || fail "write files" "$dir/${f#/} is not a folder of its own (a symlink?): not written" ;;
    */*) enter "${f%/*}" || fail "write files" "$dir/${f%/*} is not a folder of its own (a symlink?): not written" ;;
  esac
done
for f; do
  case $f in /*) continue ;; */*) enter "${f%/*}" ;; *) enter "" ;; esac || fail "write files" "$dir/$f: its folder changed"
  out=$(mv -fT "$new/$f" "${f##*/}" 2>&1) || fail "write files" "$out"  # -T: never into a folder of that name
done
cd / || exit 1
rm -rf "$new"
if [ -n "$signal" ] && [ "$running" = true ]; then
  docker kill --signal "$signal" "$name" >/dev/null && echo reloaded
fi
echo "done"
