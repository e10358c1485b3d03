"""Issue 4 end to end: deploy-all converges the whole stack, in order, in parallel, idempotently."""

from __future__ import annotations

import json
import re

import pytest

from dockstack import lab
from dockstack.config import tiers

from .helpers import (
    docker_exec,
    engine_stack,
    entry,
    haproxy_servers,
    ipam_json,
    run_inv,
    ssh,
    wipe_stack,
    write_containers,
)

LAB = "b"
DOMAIN = "dockstack.lab"
PUPPET_ENVS = "/etc/puppet/dockstack/environments"  # inside the puppet container
PUPPET_ENV = f"{PUPPET_ENVS}/production"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"  # inside the haproxy container
LIFECYCLE_EVENTS = {"create", "destroy", "start", "stop", "die", "kill", "restart"}


def host_clock(inventory) -> str:
    return ssh(inventory, "host1", "date +%s.%N").stdout.strip()


def lifecycle_events(inventory, since: str) -> list[str]:
    """Container lifecycle events (not exec) on every host since a point in time, as 'host: action name'."""
    until = host_clock(inventory)
    found = []
    for h in inventory.hosts:
        out = ssh(inventory, h.name, f"docker events --since {since} --until {until} --filter type=container "
                                     "--format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}'").stdout
        for parts in (line.split() for line in out.splitlines()):  # exec events have spaces in the action
            if parts[1] in LIFECYCLE_EVENTS:
                found.append((int(parts[0]), f"{h.name}: {parts[1]} {parts[-1]}"))
    return [e for _, e in sorted(found)]


def container_ids(inventory) -> dict[str, str]:
    ids = {}
    for h in inventory.hosts:
        for line in ssh(inventory, h.name, "docker ps -a --no-trunc --format '{{.Names}} {{.ID}}'").stdout.splitlines():
            name, cid = line.split()
            ids[name] = cid
    return ids


@pytest.fixture(scope="module")
def deployed(inventory, remotes):
    wipe_stack(remotes)
    since = host_clock(inventory)
    out = run_inv("deploy-all", timeout=600).stdout
    return inventory, since, out


def test_deploy_all_brings_up_every_role_in_order(deployed):
    inventory, _, out = deployed
    assert "10 ok, 10 changed, 0 failed" in out
    stack = engine_stack(inventory)
    rows = ipam_json()
    for c in stack.containers:
        assert rows[c.name]["state"] == "running" and rows[c.name]["ip"], rows[c.name]
    # every container resolves from a container on another host
    for c in stack.containers:
        got = docker_exec(inventory, "host1", "webui", f"getent hosts {c.name}.{DOMAIN}").split()[0]
        assert got == rows[c.name]["ip"]
    # role order, from the hosts' own creation times
    created = {}
    for h in inventory.hosts:
        for line in ssh(inventory, h.name, "docker inspect --format '{{.Name}} {{.Created}}' $(docker ps -q)"
                        ).stdout.splitlines():
            name, when = line.split()
            created[name.lstrip("/")] = when
    level = {r.name: i for i, tier in enumerate(tiers(stack)) for r in tier}
    for c in stack.containers:
        for d in stack.containers:
            if level[c.role] < level[d.role]:
                assert created[c.name] < created[d.name], f"{c.name} ({c.role}) not before {d.name} ({d.role})"
    # progress names tiers and a summary closes the run
    assert re.search(r"^\[1/7\] dnsmasq: dnsmasq@host1$", out, re.M)
    assert re.search(r"^\[7/7\] collector, control, webui: ", out, re.M)


def test_roles_of_one_tier_deploy_in_parallel(deployed):
    """collector, control and webui (one tier, three hosts) overlap in time instead of queueing."""
    _, _, out = deployed
    tier = out.split("[7/7]")[1]
    creates = [m.start() for m in re.finditer(r"^  \w+: create on ", tier, re.M)]
    dones = [m.start() for m in re.finditer(r"^  \w+: done$", tier, re.M)]
    assert len(creates) == 3 and len(dones) == 3
    assert max(creates) < min(dones)  # all three started before any finished


def test_second_deploy_changes_nothing(deployed):
    inventory, _, _ = deployed
    since = host_clock(inventory)
    out = run_inv("deploy-all").stdout
    assert "10 ok, 0 changed, 0 failed" in out
    assert lifecycle_events(inventory, since) == []


def test_status_shows_each_container(deployed):
    _ = deployed
    rows = {r["name"]: r for r in json.loads(run_inv("status", "--json").stdout)}
    assert rows["galera"] == {"name": "galera", "role": "galera", "host": "host2", "state": "running",
                              "ip": ipam_json()["galera"]["ip"], "image": "dockstack/base:bookworm",
                              "health": "no service", "health_detail": "", "problem": ""}
    table = run_inv("status").stdout.splitlines()
    assert table[0].split() == ["NAME", "ROLE", "HOST", "STATE", "IP", "IMAGE", "HEALTH"]


def test_stopped_started_and_changed_image_recreated_keeping_ips(deployed, tmp_path):
    inventory, _, _ = deployed
    before = ipam_json()
    ids = container_ids(inventory)
    ssh(inventory, "host2", "docker stop cassandra")
    changed = write_containers(tmp_path, "changed.yaml",
                               lambda d: entry(d, "openstack").update(image="dockstack/haproxy:bookworm"))
    since = host_clock(inventory)
    dry = run_inv("deploy-all", "--dry-run", f"--containers-file={changed}").stdout
    lines = [line.strip() for line in dry.splitlines() if line.startswith("  ")]
    assert "cassandra (host2): start (stopped)" in lines
    assert "openstack (host3): recreate (image changed)" in lines
    assert sum(": nothing (" in line for line in lines) == 8
    assert lifecycle_events(inventory, since) == []  # the dry run changed nothing
    assert ssh(inventory, "host2", "docker inspect -f '{{.State.Running}}' cassandra").stdout.strip() == "false"

    out = run_inv("deploy-all", f"--containers-file={changed}").stdout
    assert "10 ok, 2 changed, 0 failed" in out
    after = ipam_json()
    for name in ("cassandra", "openstack"):
        assert after[name]["ip"] == before[name]["ip"] and after[name]["state"] == "running"
    new_ids = container_ids(inventory)
    assert new_ids["openstack"] != ids["openstack"] and new_ids["cassandra"] == ids["cassandra"]
    touched = {e.split()[-1] for e in lifecycle_events(inventory, since)}
    assert touched == {"cassandra", "openstack"}
    assert ssh(inventory, "host3", "docker inspect -f '{{.Config.Image}}' openstack").stdout.strip() == \
        "dockstack/haproxy:bookworm"
    run_inv("deploy-all")  # back to the shipped config
    assert ipam_json()["openstack"]["ip"] == before["openstack"]["ip"]


def test_registries_follow_the_registered_containers(deployed):
    """site.pp and hieradata list the configured containers by DNS name, as haproxy.cfg does, and the running
    haproxy resolves them through dnsmasq: no file changes with a container's coming and going."""
    inventory, _, _ = deployed

    def site_nodes() -> set[str]:
        text = docker_exec(inventory, "host2", "puppet", f"cat {PUPPET_ENV}/manifests/site.pp")
        return set(re.findall(r"^node '([^']+)'", text, re.M))

    def mysql_servers() -> list[str]:
        text = docker_exec(inventory, "host3", "haproxy", f"cat {HAPROXY_CFG}")
        backend = text.split("\nbackend mysql_servers")[1].split("\nfrontend")[0]
        return re.findall(r"^\s+server (\S+) (\S+)", backend, re.M)

    def validated() -> None:
        assert "Configuration file is valid" in docker_exec(inventory, "host3", "haproxy",
                                                            f"haproxy -c -f {HAPROXY_CFG}")
        docker_exec(inventory, "host2", "puppet", f"puppet parser validate {PUPPET_ENV}/manifests/site.pp")

    def serving() -> bool:
        probe = "timeout 3 bash -c 'exec 3<>/dev/tcp/haproxy/3306'"
        return ssh(inventory, "host1", f"docker exec webui {probe}", check=False).returncode == 0

    def galera_in_haproxy() -> tuple[str, bool]:
        return haproxy_servers(inventory, "mysql_servers")["galera"]

    stack = engine_stack()
    galera_ip = ipam_json()["galera"]["ip"]
    assert site_nodes() == {f"{c.name}.{DOMAIN}" for c in stack.containers}
    assert mysql_servers() == [("galera", f"galera.{DOMAIN}:3306")]
    lab.wait_until("haproxy resolved galera", lambda: galera_in_haproxy() == (galera_ip, True), timeout=15)
    hiera = docker_exec(inventory, "host2", "puppet", f"cat {PUPPET_ENV}/data/common.yaml")
    assert galera_ip not in hiera  # names, never addresses
    lookup = docker_exec(inventory, "host2", "puppet", f"puppet lookup --environmentpath {PUPPET_ENVS} "
                         "--environment production dockstack::services --render-as json")
    assert json.loads(lookup)["galera"] == [{"name": "galera", "fqdn": f"galera.{DOMAIN}", "host": "host2"}]
    validated()
    assert serving()
    started = ssh(inventory, "host3", "docker inspect -f '{{.State.StartedAt}}' haproxy").stdout
    cfg = docker_exec(inventory, "host3", "haproxy", f"cat {HAPROXY_CFG}")

    run_inv("remove", "--name=galera")
    assert f"galera.{DOMAIN}" in site_nodes() and len(site_nodes()) == len(stack.containers)  # from the config
    assert docker_exec(inventory, "host2", "puppet", f"cat {PUPPET_ENV}/data/common.yaml") == hiera
    # its address stays reserved under its name: haproxy keeps the server (its health check says down)
    assert galera_in_haproxy() == (galera_ip, True)
    run_inv("ipam.release", "--name=galera")
    # the name no longer resolves: haproxy takes it out of the backend, with no new file and no reload
    lab.wait_until("haproxy took galera out", lambda: not galera_in_haproxy()[1], timeout=15)
    assert docker_exec(inventory, "host3", "haproxy", f"cat {HAPROXY_CFG}") == cfg
    validated()
    assert serving()  # still listening
    assert ssh(inventory, "host3", "docker inspect -f '{{.State.StartedAt}}' haproxy").stdout == started

    run_inv("create", "--name=galera")
    new_ip = ipam_json()["galera"]["ip"]
    assert new_ip != galera_ip  # a released address is held back: a new one, which haproxy follows by itself
    lab.wait_until("haproxy resolved galera's new address", lambda: galera_in_haproxy() == (new_ip, True),
                   timeout=15)
    assert docker_exec(inventory, "host3", "haproxy", f"cat {HAPROXY_CFG}") == cfg
    assert ssh(inventory, "host3", "docker inspect -f '{{.State.StartedAt}}' haproxy").stdout == started
    assert f"galera.{DOMAIN}" in site_nodes()
    validated()
    assert serving()


def test_readiness_check_that_never_passes_fails_its_tier(deployed, tmp_path):
    _ = deployed
    for name in ("config", "collector", "control", "webui"):
        run_inv("remove", f"--name={name}")

    def never_ready(d):
        next(r for r in d["roles"] if r["name"] == "config").update(check="test -e /nonexistent", check_timeout=3)
    bad = write_containers(tmp_path, "never.yaml", never_ready)
    proc = run_inv("deploy-all", f"--containers-file={bad}", check=False)
    assert proc.returncode == 1
    assert "config: FAILED at config: readiness check `test -e /nonexistent`: not passing after 3s" in proc.stdout
    assert "later tiers not started: collector, control, webui" in proc.stdout
    assert "6 ok, 0 changed, 1 failed" in proc.stdout
    absent = {r["name"] for r in json.loads(run_inv("status", "--json").stdout) if r["state"] == "absent"}
    assert absent == {"collector", "control", "webui"}

    out = run_inv("deploy-all").stdout  # a re-run continues from where it stopped
    assert "10 ok, 3 changed, 0 failed" in out


def test_a_rebooted_host_comes_back_with_the_same_addresses(deployed):
    inventory, _, _ = deployed
    before = ipam_json()
    on_host2 = {c.name for c in engine_stack(inventory).containers if c.host == "host2"}
    lab.power_off(inventory, "host2")  # its bridge, VXLAN device and containers' processes are gone
    run_inv("lab.up")
    assert ssh(inventory, "host2", "ip link show dsbr0", check=False).returncode != 0
    rows = {r["name"]: r for r in json.loads(run_inv("status", "--json").stdout)}
    assert {n for n, r in rows.items() if r["state"] == "stopped"} == on_host2
    out = run_inv("deploy-all").stdout
    assert f"10 ok, {len(on_host2)} changed, 0 failed" in out
    after = ipam_json()
    assert {n: r["ip"] for n, r in after.items()} == {n: r["ip"] for n, r in before.items()}
    assert all(after[n]["state"] == "running" for n in on_host2)
    ip = docker_exec(inventory, "host1", "webui", f"getent hosts galera.{DOMAIN}").split()[0]
    assert ip == before["galera"]["ip"]


def test_missing_image_is_refused_before_any_change(deployed, tmp_path):
    inventory, _, _ = deployed
    bad = write_containers(tmp_path, "noimage.yaml", lambda d: entry(d, "webui").update(image="dockstack/nope:1"))
    since = host_clock(inventory)
    proc = run_inv("deploy-all", f"--containers-file={bad}", check=False)
    assert proc.returncode == 1
    assert "dockstack/nope:1 on host1: run `inv images.sync`" in proc.stderr and "Traceback" not in proc.stderr
    assert lifecycle_events(inventory, since) == []


def test_prune_removes_only_what_the_config_does_not_list(deployed, tmp_path):
    inventory, _, _ = deployed

    def extra(d):
        d["containers"].append({"name": "extra", "role": "webui", "host": "host2", "image": "dockstack/base:bookworm"})
    with_extra = write_containers(tmp_path, "extra.yaml", extra)
    run_inv("create", "--name=extra", f"--containers-file={with_extra}")
    out = run_inv("deploy-all").stdout
    assert "10 ok, 0 changed" in out and "extra" in ssh(inventory, "host2", "docker ps --format '{{.Names}}'").stdout
    dry = run_inv("deploy-all", "--dry-run", "--prune").stdout
    assert "extra (host2): remove (not in the config, --prune)" in dry
    out = run_inv("deploy-all", "--prune").stdout
    assert "1 pruned" in out
    assert "extra" not in ssh(inventory, "host2", "docker ps -a --format '{{.Names}}'").stdout


def test_destroy_all_in_reverse_order_keeps_addresses(deployed):
    inventory, _, _ = deployed
    before = ipam_json()
    since = host_clock(inventory)
    run_inv("destroy-all")
    rows = ipam_json()
    assert all(r["state"] == "absent" for r in rows.values() if r["name"] in before)
    assert {n: rows[n]["ip"] for n in before} == {n: r["ip"] for n, r in before.items()}
    events = [e.replace(":", "").split() for e in lifecycle_events(inventory, since)]
    destroyed = [name for _, action, name in events if action == "destroy"]
    stack = engine_stack(inventory)
    assert sorted(destroyed) == sorted(c.name for c in stack.containers)
    level = {r.name: i for i, tier in enumerate(tiers(stack)) for r in tier}
    role = {c.name: c.role for c in stack.containers}
    order = [level[role[n]] for n in destroyed]
    assert order == sorted(order, reverse=True), destroyed  # reverse deploy order, tier by tier
