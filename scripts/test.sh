#!/usr/bin/env bash
# Sets everything up, brings the labs up, runs lint and the whole test suite against them, and tears the labs
# down again, also when something fails.
#
# The suite runs as two pytest processes at once, each on a lab of its own: the unit tests, the real-service
# modules (one from-empty deploy of the shipped stack: Puppet, Galera, OpenStack, ZooKeeper), the lab's and the
# VIP's and a few light ones on the main lab (hosts.yaml), every other end-to-end module on the second lab
# (tests/e2e/stacks/hosts-lab-b.yaml, selected through INVOKE_DOCKSTACK_HOSTS_FILE). Measured on a clean clone:
# 23.8 min together (.ci/run 24.5 min in all) against 31 min one after the other. Both halves keep the 2 cores busy
# much of the time, so the gain is only where one waits (services starting, readiness bounds, keepalived's timers)
# while the other works.
# With arguments (`bash scripts/test.sh tests/e2e/test_galera.py -x`), one pytest on the main lab runs those.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

inv=.venv/bin/inv
lab_b=tests/e2e/stacks/hosts-lab-b.yaml
# on the main lab: the real-service modules, and a few light ones that even out the two halves (measured on a
# clean clone: 23.0 min here, 23.8 min on the second lab)
main=(tests/e2e/test_lab.py tests/e2e/test_vip.py tests/e2e/test_roles.py tests/e2e/test_multi_dnsmasq.py
      tests/e2e/test_secret_values.py
      tests/e2e/test_puppet.py tests/e2e/test_openstack.py tests/e2e/test_zookeeper.py tests/e2e/test_galera.py
      tests/e2e/test_redis.py)
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
ignore=()
for m in "${main[@]}"; do ignore+=("--ignore=$m"); done
INVOKE_DOCKSTACK_HOSTS_FILE=$lab_b "${pytest[@]}" tests/e2e "${ignore[@]}" >"$log_b" 2>&1 &
pid_b=$!
echo "tests: the end-to-end modules but ${main[*]##*/} run on the second lab at the same time (shown when done)"
status_a=0
"${pytest[@]}" tests/unit "${main[@]}" || status_a=$?
status_b=0
wait "$pid_b" || status_b=$?
echo
echo "===== the second lab's half ($lab_b) ====="
cat "$log_b"
echo "tests: main lab's half exited $status_a, second lab's half exited $status_b"
[ "$status_a" -eq 0 ] && [ "$status_b" -eq 0 ]
