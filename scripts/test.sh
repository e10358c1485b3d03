#!/usr/bin/env bash
# Sets everything up, brings the labs up, runs lint and the whole test suite against them, and tears the labs
# down again, also when something fails.
#
# The suite runs as two pytest processes at once, each on a lab of its own, as each end-to-end module says with
# LAB = "main" or LAB = "b" (tests/e2e/conftest.py marks its tests lab_main or lab_b): the unit tests, the
# real-service modules (one from-empty deploy of the shipped stack: Puppet, Galera, OpenStack, ZooKeeper), the lab's
# and the VIP's and a few light ones on the main lab (hosts.yaml), every other end-to-end module on the second lab
# (tests/e2e/stacks/hosts-lab-b.yaml, selected through INVOKE_DOCKSTACK_HOSTS_FILE). Measured on a clean clone
# with an empty image cache: .ci/run 24.3 min in all (the halves 20.6 and 14.4 min; docs/testing.md). Both halves
# keep the 2 cores busy much of the time, so the gain is only where one waits (services starting, readiness bounds,
# keepalived's timers) while the other works.
# With arguments (`bash scripts/test.sh tests/e2e/test_galera.py -x`), one pytest on the main lab runs those.
#
# `bash scripts/test.sh --fast [PYTEST ARGS...]`: the quick loop, without any lab: `ruff check .`, shellcheck over
# every shipped shell script, and every test that needs neither the lab nor root (tests/unit, less tests marked
# `root`; test files among the arguments instead of tests/unit, with e2e tests deselected), then it exits. It brings no lab up, syncs no image and needs no root: setup (which needs root for apt)
# runs only when .venv or shellcheck is missing or .venv is older than requirements.txt. As another user, the
# checkout and its .venv must be readable, and .venv's Python usable, by that user (a .venv made by root from a
# Python under /root is not). About 30-90 s on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

# the same test as scripts/setup.sh's: the packages import and were installed from this requirements.txt
venv_ready() {
  [ -x .venv/bin/python ] && [ -x .venv/bin/ruff ] && [ -x .venv/bin/pytest ] \
    && .venv/bin/python -c 'import fabric, invoke, paramiko, yaml, jinja2, pytest' 2>/dev/null \
    && cmp -s requirements.txt .venv/.requirements.installed
}

# the shell scripts dockstack ships (scripts/, bench/, dockstack/scripts/ ...): tracked or new, not ignored, not
# the tests' fixtures; in a copy without git, the folders they live in
shell_scripts() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard -- '*.sh' ':!:tests/'
  else
    find . -path ./tests -prune -o -path ./.venv -prune -o -path ./.git -prune -o -name '*.sh' -type f -print0
  fi | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\n' "${f#./}"; done | sort -u
}

fast() {
  if ! venv_ready || ! command -v shellcheck >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "scripts/test.sh --fast: .venv (or shellcheck) is missing or out of date, and scripts/setup.sh needs" \
           "root: run it once as root, then --fast runs as any user who can read the checkout" >&2
      exit 1
    fi
    bash scripts/setup.sh
  fi
  local started=$SECONDS scripts=()
  echo "fast: ruff check ."
  .venv/bin/ruff check --no-cache .  # 0.1 s without its cache, which another user may not be able to write
  mapfile -t scripts < <(shell_scripts)
  echo "fast: shellcheck ${scripts[*]}"
  if [ ${#scripts[@]} -gt 0 ]; then shellcheck "${scripts[@]}"; fi
  local where=(tests/unit) a
  for a in "$@"; do  # named test files or folders instead of all of tests/unit (e2e ones are deselected all the same)
    if [ "${a#-}" = "$a" ] && [ -e "${a%%::*}" ]; then where=(); fi
  done
  .venv/bin/pytest -q -p no:cacheprovider --durations=5 -m "not e2e and not root" "${where[@]}" "$@"
  echo "fast: lint and tests passed in $((SECONDS - started)) s"
}

if [ "${1:-}" = --fast ]; then
  shift
  fast "$@"
  exit
fi

bash scripts/setup.sh --tests

inv=.venv/bin/inv
lab_b=tests/e2e/stacks/hosts-lab-b.yaml
log_b=$(mktemp /tmp/dockstack-tests-lab-b.XXXXXX)

teardown() {
  for hosts in hosts.yaml "$lab_b"; do
    $inv lab.down --hosts-file="$hosts" >/dev/null 2>&1 || $inv lab.down --hosts-file="$hosts"
  done
  rm -f "$log_b"
}
trap teardown EXIT

$inv lab.up
$inv images.sync
.venv/bin/ruff check .
pytest=(.venv/bin/pytest -v -p no:cacheprovider --durations=25)
if [ $# -gt 0 ]; then
  "${pytest[@]}" "$@"
  exit
fi

# the second lab gets the engine stack's images (the test session syncs them); the shipped stack's stay on the main lab
INVOKE_DOCKSTACK_HOSTS_FILE=$lab_b $inv lab.up
# the two halves select complements (`lab_b`, `not lab_b`): every test runs in exactly one
INVOKE_DOCKSTACK_HOSTS_FILE=$lab_b "${pytest[@]}" -m lab_b tests/e2e >"$log_b" 2>&1 &
pid_b=$!
echo "tests: the end-to-end modules with LAB = \"b\" run on the second lab at the same time (shown when done)"
status_a=0
"${pytest[@]}" -m "not lab_b" tests/unit tests/e2e || status_a=$?
status_b=0
wait "$pid_b" || status_b=$?
echo
echo "===== the second lab's half ($lab_b) ====="
cat "$log_b"
echo "tests: main lab's half exited $status_a, second lab's half exited $status_b"
[ "$status_a" -eq 0 ] && [ "$status_b" -eq 0 ]
