"""Issue 9, Galera: a three-node MariaDB Galera cluster from the shipped stack, against the real services.

One deployed stack is shared by the module's tests (the rest of the stack as it is, or deployed by the fixture);
the galera nodes start from empty: no container, no data. The tests run in file order and build on each other
(a row written early is looked for after the full stop). Times are printed (pytest -s shows them).
"""

from __future__ import annotations

import re
import shlex
import stat
import time
import uuid

import pytest
import yaml

from dockstack.config import ROOT, Container, Stack, secrets_file_for
from dockstack.remote import parallel
from dockstack.services import service_dir

from .helpers import TABLE, Deployed, has_row, holders, insert, ready, run_inv, shipped_variant, sql, ssh

LAB = "main"
SHIPPED = ROOT / "containers.yaml"
INV_TIMEOUT = 900  # the bound on each inv here, a deploy-all of the shipped stack included
DOMAIN = "dockstack.lab"

# a network account of the tests' own, made over a node's local socket: MariaDB's root answers there only
READER, READER_PASSWORD = "tester", "TesterOnlyReads0123456789"


def through_haproxy(inventory, client: Container, query: str, server: str = "haproxy") -> str:
    """A query through haproxy's mysql frontend (a haproxy container's name, or the VIP's), as READER."""
    cmd = f"mariadb -h {server}.{DOMAIN} -u{READER} -p{READER_PASSWORD} -N -B -e {shlex.quote(query)}"
    return ssh(inventory, client.host, f"docker exec {client.name} sh -c {shlex.quote(cmd)}").stdout.strip()


def wsrep(inventory, c: Container) -> tuple[str, str]:
    """The node's wsrep_local_state_comment and wsrep_cluster_size."""
    got = dict(line.split("\t") for line in sql(inventory, c, "SHOW GLOBAL STATUS WHERE Variable_name IN "
                                                "('wsrep_local_state_comment', 'wsrep_cluster_size')").splitlines())
    return got["wsrep_local_state_comment"], got["wsrep_cluster_size"]


def tier_seconds(out: str, tier_name: str = "galera") -> float:
    """How long deploy-all's galera tier took, from its `[i/n] took Ns` line."""
    tier = re.search(rf"^\[(\d+)/\d+\] {tier_name}\b", out, re.M)
    assert tier, out
    took = re.search(rf"^  \[{tier.group(1)}/\d+\] took ([\d.]+)s$", out, re.M)
    assert took, out
    return float(took.group(1))


@pytest.fixture(scope="module")
def cluster(shipped_from_empty: Deployed, inventory) -> tuple[Stack, list[Container], str]:
    """The shipped stack deployed from empty, its galera nodes bootstrapped by that deploy-all."""
    stack, out = shipped_from_empty.stack, shipped_from_empty.out
    nodes = list(stack.of_role("galera"))
    print(f"\ngalera: bootstrap of {len(nodes)} nodes from empty (deploy-all's galera tier): {tier_seconds(out):.1f}s")
    sql(inventory, nodes[0], f"CREATE USER IF NOT EXISTS '{READER}'@'%' IDENTIFIED BY '{READER_PASSWORD}'; "
                             f"GRANT SELECT ON {TABLE.split('.')[0]}.* TO '{READER}'@'%'")
    return stack, nodes, out


def test_deploy_all_bootstraps_exactly_one_node(cluster, inventory):
    _, nodes, out = cluster
    assert "0 failed" in out, out
    chosen = [x for x in out.splitlines() if "starts the cluster" in x]
    assert chosen == ["  galera: galera1 starts the cluster: no node has data yet: galera1 (first in config order) "
                      "starts a new cluster"], out
    for c in nodes:  # the readiness check passed on each: Synced in a Primary cluster of all three
        assert ready(inventory, c).strip() == f"state=Synced cluster=Primary size={len(nodes)} want={len(nodes)}"
    logs = ssh(inventory, "host1", "docker logs galera1 2>&1").stdout
    assert logs.count("dockstack-galera: starting a new cluster") == 1
    # the generated passwords: in no output, container log or label
    secrets = yaml.safe_load(secrets_file_for(SHIPPED).read_text())
    assert stat.S_IMODE(secrets_file_for(SHIPPED).stat().st_mode) == 0o600
    for c in nodes:
        seen = out + ssh(inventory, c.host, f"docker logs {c.name} 2>&1; docker inspect --format "
                         f"'{{{{json .Config.Labels}}}}' {c.name}").stdout
        for key in ("galera_root_password", "galera_sst_password", "keystone_db_password"):
            assert secrets[key] not in seen, (c.name, key)
    for c in nodes[1:]:
        logs = ssh(inventory, c.host, f"docker logs {c.name} 2>&1").stdout
        assert "starting a new cluster" not in logs and "dockstack-galera: joining through" in logs, c.name


def test_serial_2_on_the_three_node_role_is_refused_by_a_dry_run_naming_file_and_key(cluster, inventory, tmp_path):
    """Issue 31: two of three nodes down at once would lose the quorum; refused at load, before any host is asked."""
    _, nodes, _ = cluster
    data = yaml.safe_load(SHIPPED.read_text())
    k, role = next((k, r) for k, r in enumerate(data["roles"]) if r["name"] == nodes[0].role)
    role["serial"] = 2
    changed = tmp_path / "containers.yaml"
    changed.write_text(yaml.safe_dump(data, sort_keys=False))
    started = {c.name: ssh(inventory, c.host, f"docker inspect -f '{{{{.State.StartedAt}}}}' {c.name}").stdout
               for c in nodes}
    proc = run_inv("deploy-all", "--dry-run", containers=changed, check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in said, said
    assert f"{changed}: roles[{k}].serial: 2 would take 2 of role {role['name']}'s 3 containers down at once" in said
    assert "set serial: 1 or less" in said
    assert {c.name: ssh(inventory, c.host, f"docker inspect -f '{{{{.State.StartedAt}}}}' {c.name}").stdout
            for c in nodes} == started


def test_wsrep_settings_from_puppet_and_a_second_run_changes_nothing(cluster, inventory):
    stack, nodes, _ = cluster
    cnf = ssh(inventory, "host2", "docker exec galera2 cat /etc/mysql/mariadb.conf.d/99-dockstack-galera.cnf").stdout
    members = ",".join(f"{c.name}.{DOMAIN}" for c in nodes)
    for line in (f"wsrep_cluster_address = gcomm://{members}", f"wsrep_node_name = galera2.{DOMAIN}",
                 "wsrep_sst_method = mariabackup", "binlog_format = ROW", "innodb_autoinc_lock_mode = 2",
                 "bind-address = 0.0.0.0", "wsrep_cluster_name = dockstack"):
        assert f"\n{line}\n" in cnf, line
    # nothing changed: no agent, no restart, the cluster untouched
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert f"{len(stack.containers)} ok, 0 changed, 0 failed" in out and "puppet agent" not in out


def test_a_row_written_through_one_node_is_read_through_the_others(cluster, inventory):
    stack, nodes, _ = cluster
    value = f"row-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[0], value)
    for c in nodes[1:]:
        assert has_row(inventory, c, value), c.name
    # a client through haproxy reaches the one active server (the others are backups), with the generated password
    assert through_haproxy(inventory, nodes[2], f"SELECT v FROM {TABLE} WHERE v = '{value}'") == value
    assert through_haproxy(inventory, nodes[2], "SELECT @@hostname") == "galera1"
    vip = stack.role("haproxy").vip
    if vip is not None:  # the same through the virtual IP's name, wherever keepalived holds it
        assert through_haproxy(inventory, nodes[1], "SELECT @@hostname", vip.name) == "galera1"
    check = ssh(inventory, "host1", "docker exec galera1 sh -c "
                + shlex.quote("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | socat - TCP:galera2.dockstack.lab:9200")).stdout
    assert check.startswith("HTTP/1.1 200 OK") and "Synced, cluster size 3" in check


def test_remove_then_create_rejoins_with_its_address(cluster, inventory):
    _, nodes, _ = cluster
    g2 = nodes[1]
    ip_before = ssh(inventory, g2.host, f"docker exec {g2.name} hostname -i").stdout.split()
    run_inv("remove", f"--name={g2.name}", containers=SHIPPED, timeout=INV_TIMEOUT)
    missed = f"missed-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[0], missed)  # written while galera2 is gone: it must get it by IST/SST
    started = time.monotonic()
    out = run_inv("create", f"--name={g2.name}", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    took = time.monotonic() - started
    print(f"\ngalera: galera2 removed, created again and Synced (inv create): {took:.1f}s")
    assert "galera: galera2 join: galera1, galera3 running: the others join its cluster" in out, out
    assert ssh(inventory, g2.host, f"docker exec {g2.name} hostname -i").stdout.split() == ip_before
    assert ready(inventory, g2).startswith("state=Synced cluster=Primary size=3 want=3")
    assert has_row(inventory, g2, missed)


def test_a_node_left_outside_the_cluster_is_restarted_and_joins_again(cluster, inventory):
    """A joiner whose incremental transfer misses write sets is dropped by Galera with its cluster connection closed
    ("node restart required"), and mariadbd runs on outside the cluster: seen after `docker kill` of all nodes, when
    two joined at once. gmcast.isolate=1 leaves a node the same way on demand (non-Primary, its peers Synced and
    reachable): its supervisor must restart mariadbd, which joins again and gets what it missed."""
    _, nodes, _ = cluster
    g3 = nodes[2]
    sql(inventory, g3, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'")
    started = time.monotonic()
    while not ready(inventory, g3).startswith("state=Initialized cluster=non-Primary size=1"):
        assert time.monotonic() - started < 30, ready(inventory, g3)
    missed = f"outside-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[0], missed)  # written while galera3 is outside: it must get it when it joins again
    while not ready(inventory, g3).startswith("state=Synced cluster=Primary size=3 want=3"):
        assert time.monotonic() - started < 120, ready(inventory, g3)
    took = time.monotonic() - started
    print(f"\ngalera: galera3 isolated, restarted by its supervisor and Synced again: {took:.1f}s")
    logs = ssh(inventory, g3.host, f"docker logs --since 3m {g3.name} 2>&1").stdout
    assert re.search(r"dockstack-galera: outside the primary component \(non-Primary\) for \d+ s while "
                     r"galera[12]\.dockstack\.lab is Synced: restarting mariadbd to join again", logs), logs[-3000:]
    assert has_row(inventory, g3, missed)
    assert all(ready(inventory, c).startswith("state=Synced cluster=Primary size=3") for c in nodes)


def test_role_remove_then_create_keeps_a_safe_order(cluster, inventory):
    """`inv remove --name=galera` stops and removes the nodes in reverse order (galera1 last, so it holds the
    last write); `inv create --name=galera` creates them one after another, the most advanced first."""
    _, nodes, _ = cluster
    value = f"role-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[1], value)
    run_inv("remove", "--name=galera", containers=SHIPPED, timeout=INV_TIMEOUT)
    started = time.monotonic()
    out = run_inv("create", "--name=galera", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    print(f"\ngalera: inv create --name=galera (three nodes one after another, from kept data): "
          f"{time.monotonic() - started:.1f}s")
    assert "role galera: galera1, galera2, galera3, one after another" in out
    chosen = [x for x in out.splitlines() if "starts the cluster" in x]
    assert len(chosen) == 1 and chosen[0].startswith("  galera: galera1 starts the cluster: galera1 has the most "
                                                     "advanced state"), out
    assert out.index("galera1: create on") < out.index("galera2: create on") < out.index("galera3: create on")
    for c in nodes:  # each node's check passed at its step (size 1, 2, 3): now all three are Synced together
        assert has_row(inventory, c, value), c.name
        assert wsrep(inventory, c) == ("Synced", "3"), c.name
    sizes = {c.name: ssh(inventory, c.host, f"cat {service_dir(c)}/expected-size").stdout.strip() for c in nodes}
    assert sizes == {"galera1": "1", "galera2": "2", "galera3": "3"}


def test_full_stop_recovers_from_the_most_advanced_node(cluster, inventory):
    """galera1 and galera2 stop first, galera3 takes one more write alone, then stops: only galera3 has it, so
    galera3 (not galera1, the first in config order) must start the cluster again."""
    _, nodes, _ = cluster
    for c in nodes[:2]:
        ssh(inventory, c.host, f"docker stop {c.name}")
    last = f"last-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[2], last)
    ssh(inventory, nodes[2].host, f"docker stop {nodes[2].name}")
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    print(f"\ngalera: full stop (docker stop) recovered by deploy-all's galera tier: {tier_seconds(out):.1f}s")
    chosen = [x for x in out.splitlines() if "starts the cluster" in x]
    assert len(chosen) == 1 and chosen[0].startswith(
        "  galera: galera3 starts the cluster: galera3 has the most advanced state: seqno "), out
    for c in nodes:
        assert has_row(inventory, c, last), c.name
        assert ready(inventory, c).startswith("state=Synced cluster=Primary size=3 want=3")


def test_killed_nodes_recover_their_seqno_first(cluster, inventory):
    """docker kill leaves grastate.dat at seqno -1: each node's position comes from --wsrep-recover."""
    _, nodes, _ = cluster
    value = f"killed-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[1], value)
    parallel(nodes, lambda c: ssh(inventory, c.host, f"docker kill {c.name}"))
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    print(f"\ngalera: all killed, recovered by deploy-all's galera tier (--wsrep-recover included): "
          f"{tier_seconds(out):.1f}s")
    for c in nodes:
        assert re.search(rf"^  {c.name}: --wsrep-recover: [0-9a-f-]{{36}}:\d+$", out, re.M), out
    chosen = [x for x in out.splitlines() if "starts the cluster" in x]
    assert len(chosen) == 1 and "recovered by --wsrep-recover" in chosen[0], out
    for c in nodes:
        assert has_row(inventory, c, value), c.name
        # each node found its position (galera_recovery) before it started: the joiners caught up by IST
        logs = ssh(inventory, c.host, f"docker logs --since 5m {c.name} 2>&1").stdout
        assert "dockstack-galera: recovered position " in logs, c.name


FULL_STOPS = {  # issue 31: every node down in a way that leaves its container running (or a mix), by shell on its host
    "pkill -9 mariadbd": ["docker exec {name} pkill -9 -x mariadbd"] * 3,  # what the OOM killer leaves
    "kill -STOP mariadbd": ["docker exec {name} pkill -STOP -x mariadbd"] * 3,  # a hung node
    "docker pause": ["docker pause {name}"] * 3,
    "mix": ["docker exec {name} pkill -9 -x mariadbd", "docker pause {name}", "docker stop {name}"],
}


@pytest.mark.parametrize("kind", list(FULL_STOPS))
def test_no_node_in_a_primary_component_is_recovered_whatever_the_containers_say(cluster, inventory, kind):
    """Issue 31: the containers run (or some do) but no mariadbd serves a Primary component: deploy-all stops the
    running ones cleanly (each resumed first) and starts the role as from a full stop, so the most advanced node
    bootstraps and the others rejoin: cluster size 3 and the row written before it is still there."""
    _, nodes, _ = cluster
    value = f"{kind.split()[0]}-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[0], value)
    parallel(list(zip(nodes, FULL_STOPS[kind])), lambda item: ssh(
        inventory, item[0].host, item[1].format(name=shlex.quote(item[0].name))))
    started = time.monotonic()
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    took = time.monotonic() - started
    print(f"\ngalera: {kind} on every node, recovered by deploy-all in {took:.1f}s")
    assert "recovering role galera: none of its 3 members passes its check" in out, out
    assert len([x for x in out.splitlines() if "starts the cluster" in x]) == 1, out
    for c in nodes:
        assert ready(inventory, c).startswith("state=Synced cluster=Primary size=3 want=3"), c.name
        assert has_row(inventory, c, value), c.name
    assert took < 90, out


def test_a_paused_node_is_unhealthy_and_unpaused_by_deploy_all(cluster, inventory):
    """Issue 31: `docker pause` of one node: deploy-all says it is unhealthy (paused), unpauses it (no restart: the
    same container start), and it is Synced in the cluster of 3 again."""
    _, nodes, _ = cluster
    c = nodes[1]
    started_at = ssh(inventory, c.host, f"docker inspect -f '{{{{.State.StartedAt}}}}' {c.name}").stdout.strip()
    ssh(inventory, c.host, f"docker pause {c.name}")
    dry = run_inv("deploy-all", "--dry-run", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert f"  {c.name} ({c.host}): repair (unhealthy: paused" in dry, dry
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert f"  {c.name}: resumed: unpaused" in out, out
    assert re.search(r"^deploy-all: 14 ok, 1 changed, 0 failed", out, re.M), out
    assert ssh(inventory, c.host, f"docker inspect -f '{{{{.State.StartedAt}}}}' {c.name}").stdout.strip() == started_at
    assert ready(inventory, c).startswith("state=Synced cluster=Primary size=3 want=3")


def test_a_node_primary_alone_is_not_stopped_to_recover_its_role(cluster, inventory):
    """Two nodes stopped cleanly leave galera1 Primary on its own: its readiness check waits for 3, but it serves,
    so deploy-all does not recover the role as a whole (galera1 keeps running); the others join it."""
    _, nodes, _ = cluster
    started_at = ssh(inventory, nodes[0].host,
                     f"docker inspect -f '{{{{.State.StartedAt}}}}' {nodes[0].name}").stdout.strip()
    for c in nodes[1:]:
        run_inv("stop", f"--name={c.name}", containers=SHIPPED, timeout=INV_TIMEOUT)
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert "recovering role galera" not in out, out
    assert "galera1 still serves" in out, out
    assert ssh(inventory, nodes[0].host,
               f"docker inspect -f '{{{{.State.StartedAt}}}}' {nodes[0].name}").stdout.strip() == started_at
    for c in nodes:
        assert ready(inventory, c).startswith("state=Synced cluster=Primary size=3 want=3"), c.name


def test_vip_failover_keeps_mysql_through_the_vip(cluster, inventory):
    """Stop the haproxy container that holds the VIP: the other takes it within 5 s, and a MySQL client through
    the VIP's name reads the same data before and after; started again, only one of them holds it."""
    stack, nodes, _ = cluster
    vip = stack.role("haproxy").vip
    assert vip is not None
    haproxies = {c.name: c.host for c in stack.of_role("haproxy")}
    value = f"vip-{uuid.uuid4().hex[:12]}"
    insert(inventory, nodes[0], value)
    assert through_haproxy(inventory, nodes[1], f"SELECT v FROM {TABLE} WHERE v = '{value}'", vip.name) == value
    [holder] = holders(inventory, haproxies, vip.ip)
    other = next(n for n in haproxies if n != holder)
    started = time.monotonic()
    ssh(inventory, haproxies[holder], f"docker stop {holder}")
    while holders(inventory, {other: haproxies[other]}, vip.ip) != [other]:
        assert time.monotonic() - started < 10, f"{other} did not take the VIP within 10 s"
    took = time.monotonic() - started
    print(f"\nVIP failover: {holder} stopped, {other} holds {vip.ip} after {took:.2f}s")
    assert took < 5, took
    # a new client connection through the VIP reaches haproxy on the new holder, and the same data
    assert through_haproxy(inventory, nodes[2], f"SELECT v FROM {TABLE} WHERE v = '{value}'", vip.name) == value

    out = run_inv("start", f"--name={holder}", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert f"{holder}: start on" in out, out
    watched = time.monotonic()
    while time.monotonic() - watched < 6:  # longer than keepalived's master-down interval: no second holder
        assert holders(inventory, haproxies, vip.ip) == [other]


def test_below_quorum_a_broken_image_leaves_the_last_running_node_alone(cluster, inventory, tmp_path):
    """Issue 31: galera2 and galera3 stopped (galera1 alone serves: Primary, size 1), then an image that cannot run
    galera is configured. deploy-all starts the stopped two with it first (at once: they serve nothing) and they
    fail, so galera1's roll does not begin: the same container, still Synced, its data there; the run exits 1 and
    says why. The good image back, one deploy-all brings all three back together."""
    _, nodes, _ = cluster
    g1, others = nodes[0], nodes[1:]
    value = f"quorum-{uuid.uuid4().hex[:12]}"
    insert(inventory, g1, value)
    for c in reversed(others):
        run_inv("stop", f"--name={c.name}", containers=SHIPPED, timeout=INV_TIMEOUT)
    started = time.monotonic()  # each left the cluster cleanly: galera1 stays Primary, alone
    while not ready(inventory, g1).startswith("state=Synced cluster=Primary size=1 "):
        assert time.monotonic() - started < 30, ready(inventory, g1)

    def broken(data: dict) -> None:  # as test_day2's broken image: the base image tagged for galera
        data["images"]["dockstack/galera:broken"] = data["images"]["dockstack/galera:bookworm"]
        for c in data["containers"]:
            if c["role"] == g1.role:
                c["image"] = "dockstack/galera:broken"

    def inspect(c: Container) -> str:
        return ssh(inventory, c.host, f"docker inspect -f '{{{{.Id}}}} {{{{.State.StartedAt}}}}' {c.name}").stdout

    before = inspect(g1)
    parallel(nodes, lambda c: ssh(inventory, c.host, "docker tag dockstack/base:bookworm dockstack/galera:broken"))
    try:  # what the broken run did is looked at before the good image heals it (also when it went wrong)
        proc = run_inv("deploy-all", containers=shipped_variant(tmp_path, broken), check=False,
                       timeout=INV_TIMEOUT)
        after, g1_ready, g1_row = inspect(g1), ready(inventory, g1), has_row(inventory, g1, value)
    finally:
        parallel(nodes, lambda c: ssh(inventory, c.host, "docker rmi dockstack/galera:broken", check=False))
        healed = run_inv("deploy-all", containers=SHIPPED, check=False, timeout=INV_TIMEOUT)
    out = proc.stdout
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, out + proc.stderr
    names = ", ".join(c.name for c in others)
    assert (f"  galera: rolling change not started: {names} of role galera failed before its rolling change, so it "
            f"does not begin: {g1.name} keeps running as it is") in out, out
    assert (f"{g1.name} on {g1.host}: not changed: the rolling change did not begin: {names} failed before it"
            in out), out
    assert re.search(r"^  below quorum: (.*; )?role galera: [01] of 3 passing, quorum 2", out, re.M), out
    assert "later tiers not started: openstack" in out, out
    assert f"  {g1.name}: recreate" not in out, out
    # left alone: the same container, never restarted, still Synced alone, its data readable
    assert after == before, (before, after)
    assert g1_ready.startswith("state=Synced cluster=Primary size=1"), g1_ready
    assert g1_row
    assert healed.returncode == 0 and "0 failed" in healed.stdout, healed.stdout + healed.stderr
    for c in nodes:
        assert ready(inventory, c).startswith("state=Synced cluster=Primary size=3 want=3"), c.name
        assert has_row(inventory, c, value), c.name
