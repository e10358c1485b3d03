"""Issue 17, safe day-2 operations, on the shipped stack: deploy-all sees health,
changes a role one container at a time with no failed probe through the VIP, stops a roll at its first failure,
and heals a hung or killed Galera.

A prober runs inside the openstack container (it is not changed here): every 0.2 s a new MySQL connection through
the VIP (held 0.15 s by SELECT SLEEP, so one is under way most of the time) and a GET of keystone through the VIP,
each line `TIME KIND ok|fail DETAIL` in its log. The tests run in file order on the stack shipped_from_empty
deployed.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest
import yaml

from bench.day2 import PROBE_SECRET, Prober, failed, longest_gap
from dockstack.config import ROOT, Stack, secrets_file_for
from dockstack.remote import parallel

from .helpers import TABLE, Deployed, has_row, holders, insert, ready, run_inv, shipped_variant, sql, ssh

LAB = "main"
SHIPPED = ROOT / "containers.yaml"
INV_TIMEOUT = 1500  # the bound on each inv here, a deploy-all of the shipped stack included
DOMAIN = "dockstack.lab"


@pytest.fixture(scope="module")
def stack(shipped_from_empty: Deployed) -> Stack:
    assert "0 failed" in shipped_from_empty.out, shipped_from_empty.out
    return shipped_from_empty.stack


def with_env(role: str, value: str):
    """An edit: every container of the role gets DOCKSTACK_TEST_ROLL=value (a spec change: re-created)."""
    def edit(data: dict) -> None:
        for c in data["containers"]:
            if c["role"] == role:
                c["env"] = {**c.get("env", {}), "DOCKSTACK_TEST_ROLL": value}
    return edit


def prober(remotes, stack: Stack) -> Prober:
    """bench/day2.py's prober, in the openstack container (no change here touches it), through the VIP's name."""
    vip = stack.role("haproxy").vip
    assert vip is not None
    password = yaml.safe_load(secrets_file_for(SHIPPED).read_text())[PROBE_SECRET]
    return Prober(remotes, stack.container("openstack"), f"{vip.name}.{DOMAIN}", password)


def probed(remotes, stack: Stack, containers: Path = SHIPPED) -> tuple[str, list[list[str]]]:
    """deploy-all of a containers file, probing through the VIP all along: (its output, the probes)."""
    p = prober(remotes, stack)
    p.start()
    try:
        out = run_inv("deploy-all", containers=containers, timeout=INV_TIMEOUT).stdout
    finally:
        lines = p.stop()
    return out, lines


def rolled(remotes, stack: Stack, tmp_path: Path, role: str, value: str) -> tuple[str, list[list[str]]]:
    """probed() with the role's containers changed (an env value added)."""
    return probed(remotes, stack, shipped_variant(tmp_path, with_env(role, value)))


def assert_no_failed_probe(lines: list[list[str]], what: str) -> None:
    bad = failed(lines)
    assert not bad, f"{what}: {len(bad)} failed probe(s) of {len(lines)}:\n" + "\n".join(bad[:20])
    assert sum(x[1] == "mysql" for x in lines) >= 5 and sum(x[1] == "keystone" for x in lines) >= 5, len(lines)


def test_both_haproxy_change_one_at_a_time_without_a_failed_probe(stack, inventory, remotes, tmp_path):
    """Both haproxy re-created (env added): the one without the VIP first, then the holder, which hands the VIP
    over (priority 0) as it stops cleanly; MySQL and keystone through the VIP never fail."""
    vip = stack.role("haproxy").vip
    haproxies = {c.name: c.host for c in stack.of_role("haproxy")}
    [holder] = holders(inventory, haproxies, vip.ip)
    other = next(n for n in haproxies if n != holder)
    out, lines = rolled(remotes, stack, tmp_path, "haproxy", "1")
    assert "0 failed" in out, out
    assert out.index(f"haproxy: rolling change 1/2: {other}") < out.index(f"haproxy: rolling change 2/2: {holder}")
    assert_no_failed_probe(lines, "haproxy roll")
    print(f"\nrolling change of both haproxy: {len(lines)} probes, none failed; longest gap: mysql "
          f"{longest_gap(lines, 'mysql'):.2f}s, keystone {longest_gap(lines, 'keystone'):.2f}s")
    out, lines = probed(remotes, stack)  # back to the shipped spec: a second roll, from the other holder
    assert "0 failed" in out and "haproxy: rolling change 2/2" in out, out
    assert_no_failed_probe(lines, "second haproxy roll")


def test_galera_changes_one_node_at_a_time_drained_and_stopped_cleanly(stack, inventory, remotes, tmp_path):
    """All three nodes re-created (env added): one at a time, each drained from both haproxy and stopped cleanly
    (grastate.dat keeps its seqno), the node taking the writes last; no probe fails."""
    nodes = list(stack.of_role("galera"))
    value = f"roll-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[0], value)
    out, lines = rolled(remotes, stack, tmp_path, "galera", "1")
    assert "0 failed" in out, out
    order = [re.search(rf"galera: rolling change {i}/3: (galera\d)", out) for i in (1, 2, 3)]
    assert all(order) and order[2].group(1) == "galera1", out  # galera1 takes the writes (one_active): last
    for c in nodes:
        assert re.search(rf"^  {c.name}: drain on haproxy2?: drained", out, re.M), out
        assert f"{c.name}: stopped on {c.host}" in out, out
        assert has_row(inventory, c, value), c.name
        assert ready(inventory, c).startswith("state=Synced cluster=Primary size=3"), c.name
        logs = ssh(inventory, c.host, f"docker logs --since 10m {c.name} 2>&1").stdout
        assert "recovered position" not in logs, c.name  # a clean stop left its seqno: nothing to recover
    assert_no_failed_probe(lines, "galera roll")
    print(f"\nrolling change of galera: {len(lines)} probes, none failed; longest gap: mysql "
          f"{longest_gap(lines, 'mysql'):.2f}s, keystone {longest_gap(lines, 'keystone'):.2f}s")
    out, lines = probed(remotes, stack)  # back to the shipped spec: a second roll
    assert "0 failed" in out and "galera: rolling change 3/3: galera1" in out, out
    assert_no_failed_probe(lines, "galera roll back")


def test_a_broken_galera_image_stops_the_roll_at_the_first_node(stack, inventory, tmp_path, remotes):
    """The new image cannot run galera: the first node fails, the other two keep running their old spec, the
    later tiers do not start, exit 1 naming it; the old image back, deploy-all heals it with the data kept."""
    nodes = list(stack.of_role("galera"))
    value = f"broken-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[0], value)
    parallel(nodes, lambda c: ssh(inventory, c.host, "docker tag dockstack/base:bookworm dockstack/galera:broken"))
    ids = {c.name: ssh(inventory, c.host, f"docker inspect -f '{{{{.Id}}}}' {c.name}").stdout.strip() for c in nodes}

    def broken(data: dict) -> None:
        data["images"]["dockstack/galera:broken"] = data["images"]["dockstack/galera:bookworm"]
        for c in data["containers"]:
            if c["role"] == "galera":
                c["image"] = "dockstack/galera:broken"

    try:
        proc = run_inv("deploy-all", containers=shipped_variant(tmp_path, broken), check=False, timeout=INV_TIMEOUT)
        out = proc.stdout
        assert proc.returncode == 1, out
        first = re.search(r"galera: rolling change 1/3: (galera\d)", out).group(1)
        rest = [c for c in nodes if c.name != first]
        left = re.search(rf"rolling change stopped at {first}; (.+) keep running as they are", out)
        assert left and sorted(left.group(1).split(", ")) == [c.name for c in rest], out
        assert "below quorum" not in out, out  # the two it left alone still pass: the role keeps its quorum
        assert "later tiers not started: openstack" in out, out
        for c in rest:  # untouched: the same container, still Synced
            assert ssh(inventory, c.host, f"docker inspect -f '{{{{.Id}}}}' {c.name}").stdout.strip() == ids[c.name]
            assert ready(inventory, c).startswith("state=Synced cluster=Primary size=2"), c.name
            assert has_row(inventory, c, value)
    finally:
        parallel(nodes, lambda c: ssh(inventory, c.host, "docker rmi dockstack/galera:broken", check=False))
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert "0 failed" in out, out
    for c in nodes:
        assert has_row(inventory, c, value), c.name
        assert ready(inventory, c).startswith("state=Synced cluster=Primary size=3"), c.name


def test_a_hung_node_is_found_and_healed_by_deploy_all(stack, inventory):
    """mariadbd stopped by SIGSTOP: its process runs, its check does not answer. status shows it failing, and
    deploy-all repairs it (a clean stop, which continues it first, then a start that joins again); nothing else
    changes, and the next run has nothing to do."""
    nodes = list(stack.of_role("galera"))
    hung = nodes[2]
    value = f"hung-{uuid.uuid4().hex[:12]}"
    ssh(inventory, hung.host, f"docker exec {hung.name} pkill -STOP -x mariadbd")
    try:
        insert(inventory, nodes[0], value)  # the others go on without it
        rows = {r["name"]: r for r in json.loads(run_inv("status", "--json", containers=SHIPPED,
                                                         timeout=INV_TIMEOUT).stdout)}
        assert rows[hung.name]["health"] == "fail", rows[hung.name]
        assert all(rows[c.name]["health"] == "pass" for c in nodes[:2]), rows
        out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    finally:
        ssh(inventory, hung.host, f"docker exec {hung.name} pkill -CONT -x mariadbd", check=False)
    assert re.search(rf"^  {hung.name}: repair \(unhealthy: ", out, re.M), out
    assert re.search(r"deploy-all: \d+ ok, 1 changed, 0 failed", out), out
    assert has_row(inventory, hung, value)
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert re.search(r"deploy-all: \d+ ok, 0 changed, 0 failed", out), out


def test_kill_9_of_every_node_is_healed_by_one_deploy_all(stack, inventory):
    """docker kill (SIGKILL) of all three nodes: one deploy-all brings back three Synced nodes with the last
    committed row, within 90 s; the run after that finds all of them healthy and changes nothing."""
    nodes = list(stack.of_role("galera"))
    value = f"kill9-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[1], value)
    parallel(nodes, lambda c: ssh(inventory, c.host, f"docker kill {c.name}"))
    started = time.monotonic()
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    took = time.monotonic() - started
    print(f"\ngalera: kill -9 of all three nodes healed by one deploy-all in {took:.1f}s")
    assert "0 failed" in out, out
    for c in nodes:
        assert has_row(inventory, c, value), c.name
        assert ready(inventory, c).startswith("state=Synced cluster=Primary size=3"), c.name
    assert took < 90, out
    # each joiner asked the member it found Synced for its transfer, never whichever Galera picks (a member that has
    # only just joined may send an IST short of write sets: the joiner is then dropped, and restarted)
    for c in nodes:
        logs = ssh(inventory, c.host, f"docker logs --since {int(took) + 5}s {c.name} 2>&1").stdout
        assert "requested state transfer from '*any*'" not in logs, (c.name, logs[-3000:])
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert re.search(r"deploy-all: \d+ ok, 0 changed, 0 failed", out), out


def test_a_killed_node_rejoins_by_ist_while_writes_go_on(stack, inventory):
    """kill -9 of one node while rows are written through another: deploy-all starts it again and it catches up by
    an incremental transfer (IST), not a full copy."""
    nodes = list(stack.of_role("galera"))
    victim = nodes[1]
    ssh(inventory, victim.host, f"docker kill {victim.name}")
    values = [f"ist-{uuid.uuid4().hex[:12]}" for _ in range(5)]
    for v in values:
        insert(inventory, nodes[0], v)
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert "0 failed" in out, out
    logs = ssh(inventory, victim.host, f"docker logs --since 5m {victim.name} 2>&1").stdout
    assert re.search(r"IST received|Receiving IST", logs), logs[-3000:]
    assert not re.search(r"SST request|Proceeding with SST", logs), logs[-3000:]
    for v in values:
        assert has_row(inventory, victim, v)
    assert sql(inventory, victim, f"SELECT COUNT(*) FROM {TABLE}") == sql(inventory, nodes[0],
                                                                            f"SELECT COUNT(*) FROM {TABLE}")
