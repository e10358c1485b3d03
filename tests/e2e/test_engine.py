"""Issue 7 end to end: facts once, one script per container, a locked transactional address book.

Round trips and SSH connections are counted from DOCKSTACK_TRACE, which the real Remote writes one
line to per connection and per round trip, while `inv` runs against the lab.
"""

from __future__ import annotations

import collections
import json
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from dockstack import lab
from dockstack.config import ROOT, load_inventory, load_stack, tiers
from dockstack.services.dnsmasq import DNSMASQ_DIR
from dockstack.services.registry import DEFINITIONS

from .helpers import (
    HOSTS_FILE,
    INV,
    book_files,
    docker_exec,
    engine_stack,
    ipam_json,
    registry_is_consistent,
    renew_lease,
    run_inv,
    ssh,
    traced,
    wipe_stack,
    write_containers,
)

LAB = "b"
HOSTS = 3
CAP_NET_ADMIN = 1 << 12


def effective_caps(inventory, host: str, name: str) -> int:
    """CapEff of the container's own main process."""
    status = docker_exec(inventory, host, name, "cat /proc/1/status")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:")), 16)


def round_trips(events: list[dict]) -> list[dict]:
    return [e for e in events if "step" in e]


def facts_reads(trips: list[dict]) -> list[dict]:
    return [e for e in trips if e["step"] == "read host facts"]


def connections(events: list[dict]) -> collections.Counter:
    return collections.Counter(e["host"] for e in events if e.get("connect"))


def test_deploy_all_round_trips_per_container_host_and_tier(inventory, remotes, tmp_path):
    wipe_stack(remotes)
    stack = engine_stack(inventory)
    proc, events = traced(tmp_path, "deploy-all")
    assert "10 ok, 10 changed, 0 failed" in proc.stdout
    trips = round_trips(events)
    # one SSH connection per host for the whole command
    assert connections(events) == {h.name: 1 for h in inventory.hosts}
    # one facts read per host
    facts = collections.Counter(e["host"] for e in facts_reads(trips))
    assert facts == {h.name: 1 for h in inventory.hosts}
    # each created container: at most 3 round trips to its host (it has one: the action script)
    for c in stack.containers:
        own = [e for e in trips if e["host"] == c.host and e["step"].startswith(f"{c.name}: ")]
        assert 1 <= len(own) <= 3, (c.name, own)
    # one address-book transaction per tier at most, one round trip to each host (the dnsmasq copy and host1's
    # replica in the same one)
    txns = [e for e in trips if e["step"].startswith("address book transaction on ")]
    per_host = collections.Counter(e["step"].rpartition(" ")[2] for e in txns)
    assert set(per_host) == {h.name for h in inventory.hosts} and len(set(per_host.values())) == 1, per_host
    assert 1 <= per_host["host1"] <= len(tiers(stack))
    # nothing else but pushes of puppet's files, at most one per tier (none: they depend on the config alone
    # and went with puppet's own create, as haproxy.cfg went with haproxy's)
    pushes = [e for e in trips if e["step"] == "push puppet files to puppet"]
    assert len(pushes) <= len(tiers(stack))
    # the readiness checks of what runs, read with the facts: one round trip per host
    checks = [e for e in trips if e["step"] == "run readiness checks"]
    assert collections.Counter(e["host"] for e in checks) == {h.name: 1 for h in inventory.hosts}
    # and nothing else (a balancer telling haproxy a member is ready counts as the balancer's own)
    own = [e for e in trips if any(e["step"].startswith(f"{c.name}: ") for c in stack.containers)]
    # a lab brought up just before (this test run alone) has no container network yet: one setup per host, at most
    network = [e for e in trips if e["step"] == "set up container network"]
    assert all(n <= 1 for n in collections.Counter(e["host"] for e in network).values()), network
    assert len(facts_reads(trips)) + len(checks) + len(own) + len(txns) + len(pushes) + len(network) == len(trips), \
        trips

    # no change: the facts and the readiness checks, one round trip each per host, nothing for the address book
    proc, events = traced(tmp_path, "deploy-all")
    assert "10 ok, 0 changed, 0 failed" in proc.stdout
    assert sorted(e["step"] for e in round_trips(events)) == ["read host facts"] * HOSTS + [
        "run readiness checks"] * HOSTS
    assert connections(events) == {h.name: 1 for h in inventory.hosts}


@pytest.mark.parametrize("name", ["webui", "galera"])  # galera is balanced by haproxy, webui by nobody
def test_create_of_one_container_costs_two_round_trips_per_host_plus_three(inventory, deployed_stack, tmp_path, name):
    run_inv("remove", f"--name={name}")
    proc, events = traced(tmp_path, "create", f"--name={name}")
    assert "name in dnsmasq lease data" in proc.stdout
    trips = [e["step"] for e in round_trips(events)]
    assert trips.count("read host facts") == HOSTS
    rest = [s for s in trips if s != "read host facts"]
    # the action script and the address-book transaction, one round trip to each host (each keeps a copy); puppet's
    # files and haproxy.cfg name containers by DNS name, from the config, so they do not change when a container
    # comes or goes
    balanced = ["haproxy: ready galera"] if name == "galera" else []  # back in service in haproxy
    assert sorted(rest) == sorted([f"{name}: create", *balanced, *(f"address book transaction on {h.name}"
                                                                   for h in inventory.hosts)]), rest
    assert len(trips) <= 2 * HOSTS + 3


@pytest.fixture
def deployed_stack(inventory, remotes):
    """The shipped stack, deployed (whatever ran before)."""
    out = run_inv("deploy-all").stdout
    assert "10 ok" in out
    return inventory


def test_two_creates_at_the_same_moment_both_keep_their_addresses(inventory, deployed_stack):
    for name in ("control", "webui"):
        run_inv("remove", f"--name={name}")
        run_inv("ipam.release", f"--name={name}")  # both take the new-lease path
    procs = [subprocess.Popen([str(INV), "create", f"--name={n}"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in ("control", "webui")]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    rows = ipam_json()
    book = book_files(inventory)
    addrs = {}
    for name, host in (("control", "host3"), ("webui", "host1")):
        ip, mac = rows[name]["ip"], rows[name]["mac"]
        assert rows[name]["state"] == "running" and rows[name]["source"] == "new"
        assert f"{name} {name} {host} {mac} {ip} new" in book["registry"]
        assert f"{mac},{name},{ip}" in book["dhcp-hosts.d"]
        assert f"{ip} {name}.dockstack.lab {name}" in book["hosts.d"]
        # dnsmasq answers DNS for it, and a fresh DHCP exchange gives it the same address again
        assert docker_exec(inventory, "host2", "galera", f"getent hosts {name}.dockstack.lab").split()[0] == ip
        renew_lease(inventory, host, name)
        assert f"inet {ip}/" in docker_exec(inventory, host, name, "ip -o -4 addr show dev eth0")
        addrs[name] = ip
    assert addrs["control"] != addrs["webui"]


def test_a_changed_dnsmasq_conf_restarts_dnsmasq_and_every_address_stays(inventory, deployed_stack, tmp_path):
    """SIGHUP does not re-read dnsmasq.conf: a changed one (here the lease time) restarts dnsmasq, which
    gets its eth0 back, and every running container keeps its address, on renewal too."""
    conf = f"{DNSMASQ_DIR}/dnsmasq/dnsmasq.conf"

    def started() -> str:
        return ssh(inventory, "host1", "docker inspect -f '{{.State.StartedAt}}' dnsmasq").stdout

    def addresses() -> dict[str, str]:
        return {n: r["ip"] for n, r in ipam_json().items()}

    before, was_started = addresses(), started()
    assert ",12h\n" in ssh(inventory, "host1", f"cat {conf}").stdout
    data = yaml.safe_load(HOSTS_FILE.read_text())
    data["network"]["lease_time"] = "6h"
    hosts = tmp_path / "hosts-6h.yaml"
    hosts.write_text(yaml.safe_dump(data))
    try:
        out = run_inv("deploy-all", f"--hosts-file={hosts}").stdout
        assert "  dnsmasq: dnsmasq.conf changed: restart" in out, out
        assert "10 ok, 0 changed, 0 failed" in out, out
        assert ",6h\n" in ssh(inventory, "host1", f"cat {conf}").stdout
        assert started() != was_started
        assert "inet 10.100.0.2/" in docker_exec(inventory, "host1", "dnsmasq", "ip -o -4 addr show dev eth0")
        assert addresses() == before
        for name, host in (("webui", "host1"), ("galera", "host2")):  # the restarted dnsmasq answers the same
            renew_lease(inventory, host, name)
            assert f"inet {before[name]}/" in docker_exec(inventory, host, name, "ip -o -4 addr show dev eth0")
        assert "dnsmasq.conf changed" not in run_inv("deploy-all", f"--hosts-file={hosts}").stdout  # once only
    finally:
        out = run_inv("deploy-all").stdout  # the shipped lease time again: one more restart
    assert "  dnsmasq: dnsmasq.conf changed: restart" in out, out
    assert ",12h\n" in ssh(inventory, "host1", f"cat {conf}").stdout
    assert addresses() == before


def test_application_containers_do_not_hold_net_admin(inventory, deployed_stack):
    """Only dnsmasq (a DHCP server) keeps NET_ADMIN; the others' leases were taken by the host's udhcpc."""
    assert effective_caps(inventory, "host1", "dnsmasq") & CAP_NET_ADMIN
    for name, host in (("galera", "host2"), ("webui", "host1"), ("haproxy", "host3")):
        assert not effective_caps(inventory, host, name) & CAP_NET_ADMIN, name
        # and the address it got that way is there
        assert "inet 10.100.0." in docker_exec(inventory, host, name, "ip -o -4 addr show dev eth0")


def test_a_run_waiting_for_a_held_lock_names_the_holder(inventory, deployed_stack):
    run_inv("remove", "--name=webui")
    run_inv("ipam.release", "--name=webui")  # so its next address is one the registry has never seen
    lock = f"{DNSMASQ_DIR}/dnsmasq/lock"
    who = "alice@laptop pid 4242 running `inv deploy-all` since 2026-11-25T10:00:00Z"
    # another operator's transaction in progress: it holds the flock and says who it is, as TXN_SCRIPT does
    spec = inventory.lab
    holder = subprocess.Popen(
        ["ssh", "-i", str(lab.key_file(spec)), "-o", f"UserKnownHostsFile={lab.known_hosts_file(spec)}",
         "-o", "BatchMode=yes", f"root@{inventory.host('host1').address}",
         f"exec 9>>{lock}; flock 9; printf '%s\\n' '{who}' > {lock}.holder; echo held; exec cat >/dev/null"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # holds the lock until its stdin is closed
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        proc = run_inv("create", "--name=webui", check=False, timeout=120, env={"DOCKSTACK_LOCK_TIMEOUT": "2"})
        assert proc.returncode == 1
        assert "is still locked after 2s by alice@laptop pid 4242 running `inv deploy-all`" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder's cat ends on the host, and with it the flock: not a remote sleep to wait out
        holder.wait(timeout=30)
    # the refused run still wrote the copies whose lock was free (host2's and host3's replicas): the lock is free
    # again, and the next run repairs the copies it could not write from them, so the container it started is known
    out = run_inv("deploy-all").stdout
    assert "10 ok, 0 changed, 0 failed" in out, out
    assert "  address book of dnsmasq (generation " in out and "): repaired from the newest" in out, out
    assert ipam_json()["webui"]["state"] == "running"
    assert "differs" not in run_inv("deploy-all").stdout


@pytest.mark.parametrize("kill_after", ["[4/7]", "[7/7]"])
def test_deploy_all_killed_mid_tier_converges_on_rerun(inventory, remotes, kill_after):
    wipe_stack(remotes)
    proc = subprocess.Popen([str(INV), "deploy-all"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(kill_after):
            break
    # the tier has started: kill as soon as its first action is on its way
    for line in proc.stdout:
        seen.append(line)
        if " on host" in line and ("create on" in line):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    had = {}
    for line in seen:  # "  NAME: IP on MAC (source)" lines: addresses handed out before the kill
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "on" and parts[0].endswith(":") and parts[1].count(".") == 3:
            had[parts[0][:-1]] = parts[1]
    assert had, "".join(seen)
    out = run_inv("deploy-all").stdout
    assert "10 ok" in out and "0 failed" in out
    records = registry_is_consistent(inventory)
    rows = ipam_json()
    for c in engine_stack(inventory).containers:
        assert rows[c.name]["state"] == "running" and c.name in records, (c.name, out)
        assert records[c.name][1] == rows[c.name]["ip"]
    for name, ip in had.items():
        assert rows[name]["ip"] == ip, (name, ip, rows[name], out)
    assert "10 ok, 0 changed, 0 failed" in run_inv("deploy-all").stdout


def two_dnsmasq(data: dict) -> None:
    data["containers"].insert(1, {"name": "dnsmasq2", "role": "dnsmasq", "host": "host3",
                                  "image": "dockstack/base:bookworm", "mac": "02:00:0a:64:00:03",
                                  "ip": "10.100.0.3"})


def dhcp_range(inventory, host: str, name: str) -> tuple[int, int]:
    conf = ssh(inventory, host, f"cat {DNSMASQ_DIR}/{name}/dnsmasq.conf").stdout
    line = next(x for x in conf.splitlines() if x.startswith("dhcp-range="))
    first, last = line.removeprefix("dhcp-range=").split(",")[:2]
    return int(first.split(".")[-1]), int(last.split(".")[-1])


def test_two_dnsmasq_split_the_range_and_each_keeps_every_address(inventory, remotes, tmp_path):
    wipe_stack(remotes)
    path = write_containers(tmp_path, "two.yaml", two_dnsmasq)
    cf = f"--containers-file={path}"
    out = run_inv("deploy-all", cf).stdout
    assert "11 ok, 11 changed, 0 failed" in out
    a, b = dhcp_range(inventory, "host1", "dnsmasq"), dhcp_range(inventory, "host3", "dnsmasq2")
    assert a[1] < b[0]  # disjoint slices of .100-.199
    assert (a[0], b[1]) == (100, 199)
    rows = {r["name"]: r for r in json.loads(run_inv("ipam.show", "--json", cf).stdout)}
    ips = [r["ip"] for r in rows.values()]
    assert len(ips) == len(set(ips))
    assert book_files(inventory, "host1", "dnsmasq") == book_files(inventory, "host3", "dnsmasq2")
    # a copy that lost entries is reported and repaired from the newest
    d2 = f"{DNSMASQ_DIR}/dnsmasq2"
    ssh(inventory, "host3", f"rm {d2}/registry/galera {d2}/dhcp-hosts.d/galera {d2}/hosts.d/galera")
    out = run_inv("deploy-all", cf).stdout
    assert "address book of dnsmasq2" in out and "differs from dnsmasq's" in out and "repaired" in out
    assert book_files(inventory, "host1", "dnsmasq") == book_files(inventory, "host3", "dnsmasq2")
    assert "differs" not in run_inv("deploy-all", cf).stdout
    dhcp = [n for n, r in rows.items() if r["source"] != "static"]
    hosts = {c.name: c.host for c in load_stack(load_inventory(HOSTS_FILE), path, definitions=DEFINITIONS).containers}
    for stopped, other in (("dnsmasq", "dnsmasq2"), ("dnsmasq2", "dnsmasq")):
        # restart one dnsmasq, then stop the other: the restarted one alone hands every container its address
        ssh(inventory, hosts[stopped], f"docker restart {stopped}")
        run_inv("start", f"--name={stopped}", cf)
        run_inv("stop", f"--name={other}", cf)
        for name in dhcp:
            renew_lease(inventory, hosts[name], name)
            got = docker_exec(inventory, hosts[name], name, "ip -o -4 addr show dev eth0")
            assert f"inet {rows[name]['ip']}/" in got, (stopped, name, got)
        run_inv("start", f"--name={other}", cf)
    assert "11 ok, 0 changed, 0 failed" in run_inv("deploy-all", cf).stdout
    wipe_stack(remotes)


def test_a_tier_of_twelve_containers_on_one_host_deploys(inventory, remotes, tmp_path):
    """More containers on one host than OpenSSH's default MaxSessions (10), which the lab's sshd keeps."""
    config = ssh(inventory, "host2", "cat /proc/$(cat /run/sshd.pid 2>/dev/null || echo 1)/cmdline || true")
    assert "MaxSessions" not in Path(f"{inventory.lab.state_dir}/hosts/host2/sshd_config").read_text(), config
    wipe_stack(remotes)

    def many(d):
        d["roles"] = [r for r in d["roles"] if r["name"] == "dnsmasq"] + [{"name": "worker", "depends_on": ["dnsmasq"]}]
        d["containers"] = [c for c in d["containers"] if c["name"] == "dnsmasq"] + [
            {"name": f"worker{i}", "role": "worker", "host": "host2", "image": "dockstack/base:bookworm"}
            for i in range(12)]
    path = write_containers(tmp_path, "many.yaml", many)
    out = run_inv("deploy-all", f"--containers-file={path}").stdout
    assert "13 ok, 13 changed, 0 failed" in out
    rows = json.loads(run_inv("ipam.show", "--json", f"--containers-file={path}").stdout)
    workers = [r for r in rows if r["name"].startswith("worker")]
    assert len(workers) == 12 and all(r["state"] == "running" and r["ip"] for r in workers)
    assert len({r["ip"] for r in workers}) == 12
    wipe_stack(remotes)
