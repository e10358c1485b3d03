#!/usr/bin/env bash
# Sets everything up, brings the lab up, runs lint and the whole test suite against it, and tears
# the lab down again, also when something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

inv=.venv/bin/inv
teardown() { $inv lab.down >/dev/null 2>&1 || $inv lab.down; }
trap teardown EXIT

$inv lab.up
$inv images.sync
.venv/bin/ruff check .
.venv/bin/pytest -v -p no:cacheprovider tests "$@"
