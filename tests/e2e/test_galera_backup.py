"""Issue 17, Galera backup and restore: `inv galera.backup` streams a hot mariabackup of one Synced node here with
its position and sha256; `inv galera.restore` refuses a damaged file before anything stops, else stops the role
cleanly, restores onto one node, starts the cluster from it and the others join by SST: rows written before the
backup are back after the database was dropped, and the three nodes are Synced in a cluster of 3.

On the shipped stack as the shared from-empty deploy left it (after test_galera). The tests run in file order and
build on each other (the backup the first one makes is the one the others use). Times are printed (pytest -s).
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from dockstack.config import ROOT, Container, Stack
from dockstack.services import service_dir

from .helpers import Deployed, ipam_json, run_inv, sql, ssh

LAB = "main"
SHIPPED = ROOT / "containers.yaml"
INV_TIMEOUT = 1200  # the bound on each inv here, a deploy-all of the shipped stack included
DB = "dockstack_backup"
TABLE = f"{DB}.rows"


def wsrep(inventory, c: Container) -> dict[str, str]:
    return dict(line.split("\t") for line in sql(inventory, c, "SHOW GLOBAL STATUS WHERE Variable_name IN "
                                                 "('wsrep_local_state_comment', 'wsrep_cluster_size', "
                                                 "'wsrep_cluster_status')").splitlines())


def started_at(inventory, c: Container) -> str:
    """When the node's container last started (changes with any stop and start)."""
    return ssh(inventory, c.host, f"docker inspect --format '{{{{.State.Running}}}} {{{{.State.StartedAt}}}}' "
               f"{c.name}").stdout.strip()


def folders(inventory, c: Container) -> list[str]:
    """The node's service folder's data folders: data, and what a restore made beside it."""
    out = ssh(inventory, c.host, f"ls -1 {service_dir(c)}").stdout.split()
    return sorted(x for x in out if x.startswith("data"))


@pytest.fixture(scope="module")
def galera(shipped_from_empty: Deployed) -> tuple[Stack, list[Container]]:
    stack = shipped_from_empty.stack
    nodes = [c for c in stack.containers if c.role == "galera"]
    assert len(nodes) == 3, nodes
    return stack, nodes


@pytest.fixture(scope="module")
def backup(galera, inventory, tmp_path_factory) -> tuple[Path, list[str], subprocess.CompletedProcess[str]]:
    """Rows written through galera1, then a backup of the cluster into a new local folder."""
    _, nodes = galera
    values = [f"before-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    sql(inventory, nodes[0], f"CREATE DATABASE IF NOT EXISTS {DB}; CREATE TABLE IF NOT EXISTS {TABLE} "
        "(id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(64)); "
        + " ".join(f"INSERT INTO {TABLE} (v) VALUES ('{v}');" for v in values))
    path = tmp_path_factory.mktemp("galera-backup") / "shipped.xb.gz"
    t0 = time.monotonic()
    proc = run_inv("galera.backup", f"--file={path}", containers=SHIPPED, timeout=INV_TIMEOUT)
    print(f"\ngalera.backup: {time.monotonic() - t0:.1f}s, {path.stat().st_size} bytes")
    return path, values, proc


def test_backup_streams_one_synced_node_with_its_position_and_checksum(galera, backup):
    _, nodes = galera
    path, _, proc = backup
    manifest = json.loads(Path(f"{path}.json").read_text())
    data = path.read_bytes()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() and manifest["bytes"] == len(data)
    assert data[:2] == b"\x1f\x8b"  # gzip
    assert manifest["node"] in {c.name for c in nodes}
    assert re.fullmatch(r"[0-9a-f-]{36}", manifest["position"]["uuid"]) and manifest["position"]["seqno"] > 0
    said = f"{len(data)} bytes from {manifest['node']} on "
    assert said in proc.stdout and f"position {manifest['position']['uuid']}:{manifest['position']['seqno']}" in \
        proc.stdout, proc.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # every database, password hashes included
    again = run_inv("galera.backup", f"--file={path}", containers=SHIPPED, check=False, timeout=INV_TIMEOUT)
    assert again.returncode == 1 and again.stderr.startswith(f"error: {path}: already exists"), again.stderr
    assert path.read_bytes() == data


def test_a_damaged_backup_is_refused_before_anything_stops(galera, backup, inventory, tmp_path):
    _, nodes = galera
    path, _, _ = backup
    damaged = tmp_path / path.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    Path(f"{damaged}.json").write_text(Path(f"{path}.json").read_text())
    before = {c.name: (started_at(inventory, c), folders(inventory, c)) for c in nodes}
    proc = run_inv("galera.restore", f"--file={damaged}", containers=SHIPPED, check=False, timeout=INV_TIMEOUT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"error: {damaged}: does not match its manifest "), proc.stderr
    assert "nothing was changed" in proc.stderr and "Traceback" not in proc.stderr
    assert {c.name: (started_at(inventory, c), folders(inventory, c)) for c in nodes} == before
    assert all(s.startswith("true ") for s, _ in before.values())


def test_restore_after_a_drop_brings_the_rows_back_on_every_node(galera, backup, inventory):
    _, nodes = galera
    path, values, _ = backup
    sql(inventory, nodes[1], f"INSERT INTO {TABLE} (v) VALUES ('after-backup')")
    sql(inventory, nodes[2], f"DROP DATABASE {DB}")
    assert DB not in sql(inventory, nodes[0], "SHOW DATABASES").split()
    names = {c.name for c in nodes}
    addresses = {name: (row["mac"], row["ip"]) for name, row in ipam_json().items() if name in names}
    t0 = time.monotonic()
    proc = run_inv("galera.restore", f"--file={path}", containers=SHIPPED, timeout=INV_TIMEOUT)
    print(f"\ngalera.restore: {time.monotonic() - t0:.1f}s")
    out = proc.stdout
    assert "sha256 matches its manifest" in out
    assert out.index("stopping role galera cleanly") < out.index("galera1 starts the cluster")
    for c in nodes:
        assert f"{c.name}: stopped on {c.host}" in out, out
        assert sorted(sql(inventory, c, f"SELECT v FROM {TABLE}").split()) == sorted(values), c.name
        got = wsrep(inventory, c)
        assert (got["wsrep_local_state_comment"], got["wsrep_cluster_size"], got["wsrep_cluster_status"]) == \
            ("Synced", "3", "Primary"), (c.name, got)
        kept = [f for f in folders(inventory, c) if f.startswith("data.before-restore-")]
        assert kept and f"{c.name}: {c.host}:{service_dir(c)}/{kept[-1]}" in out, (c.name, kept)
        assert not [f for f in folders(inventory, c) if f.startswith("data.restoring-")]
    assert len(addresses) == 3
    assert {name: (row["mac"], row["ip"]) for name, row in ipam_json().items() if name in names} == \
        addresses  # each node back with its MAC and IP
    status = {r["name"]: r for r in json.loads(run_inv("status", "--json", containers=SHIPPED,
                                                       timeout=INV_TIMEOUT).stdout)}
    assert all(status[c.name]["health"] == "pass" for c in nodes), [status[c.name] for c in nodes]
