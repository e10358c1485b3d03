"""Issue 32, the compute role: nova-compute with libvirt and QEMU (TCG) and neutron's Linux bridge agent in two
containers of the shipped stack, on two hosts, counted `up` (and alive) by the control plane, with no privilege
beyond NET_ADMIN and /dev/net/tun; a re-created compute container keeps its hypervisor record.

It uses the stack test_openstack's tests left (the shipped stack, deployed from empty by test_puppet's fixture), and
runs deploy-all once first (a no-change re-run of what test_openstack re-created)."""

from __future__ import annotations

import json
import shlex
import time

import pytest

from dockstack.config import ROOT, Container, Stack

from .helpers import Deployed, run_inv, ssh

LAB = "main"
SHIPPED = ROOT / "containers.yaml"
INV_TIMEOUT = 1500
# Linux capabilities (linux/capability.h): what a compute container holds beyond Docker's default set, and two of
# those it does without
CAP_NET_ADMIN, CAP_NET_RAW, CAP_MKNOD, CAP_SYS_ADMIN = 12, 13, 27, 21


def admin_cli(inventory, stack: Stack, command: str) -> list[dict]:
    """The openstack CLI in the openstack container, as the admin, through the VIP; its JSON answer."""
    c = stack.container("openstack")
    script = f". /root/admin-openrc && openstack {command} -f json"
    return json.loads(ssh(inventory, c.host, f"docker exec {c.name} bash -c {shlex.quote(script)}").stdout)


def health_of(name: str) -> str:
    proc = run_inv("status", "--json", containers=SHIPPED, timeout=300, env={"DOCKSTACK_HEALTH_TIMEOUT": "30"})
    row = next(r for r in json.loads(proc.stdout) if r["name"] == name)
    return f"{row['health']}: {row['health_detail']}" if row["health_detail"] else row["health"]


@pytest.fixture(scope="module")
def computes(shipped_from_empty: Deployed) -> tuple[Stack, list[Container]]:
    stack = shipped_from_empty.stack
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert "0 failed" in out, out
    return stack, stack.of_role("compute")


def test_each_compute_container_is_a_hypervisor_the_control_plane_counts_up(computes, inventory):
    stack, nodes = computes
    assert len({c.host for c in nodes}) == len(nodes) == 2, nodes
    services = {s["Host"]: s for s in admin_cli(inventory, stack, "compute service list --service nova-compute")}
    assert sorted(services) == sorted(c.name for c in nodes), services
    assert all((s["State"], s["Status"]) == ("up", "enabled") for s in services.values()), services
    # libvirt names the hypervisor (and placement its resource provider) by the container's DNS name
    fqdns = sorted(f"{c.name}.{inventory.network.domain}" for c in nodes)
    hypervisors = admin_cli(inventory, stack, "hypervisor list")
    assert sorted(h["Hypervisor Hostname"] for h in hypervisors) == fqdns, hypervisors
    assert all(h["Hypervisor Type"] == "QEMU" and h["State"] == "up" for h in hypervisors), hypervisors
    addresses = {c.name: ssh(inventory, c.host, f"docker exec {c.name} ip -4 -o addr show dev eth0").stdout.split()[3]
                 .split("/")[0] for c in nodes}  # nova's my_ip: the container's own address
    assert {h["Hypervisor Hostname"].split(".")[0]: h["Host IP"] for h in hypervisors} == addresses, hypervisors
    providers = admin_cli(inventory, stack, "resource provider list")
    assert sorted(p["name"] for p in providers) == fqdns, providers
    agents = admin_cli(inventory, stack, "network agent list --agent-type linux-bridge")
    assert sorted(a["Host"] for a in agents) == sorted(c.name for c in nodes), agents
    assert all(a["Alive"] in (True, ":-)") and a["State"] in (True, "UP") for a in agents), agents
    for c in nodes:
        assert health_of(c.name) == "pass"


def test_a_compute_container_holds_net_admin_and_the_tun_device_and_nothing_more(computes, inventory):
    stack, nodes = computes
    for c in nodes:
        inspect = json.loads(ssh(inventory, c.host, f"docker container inspect {c.name}").stdout)[0]["HostConfig"]
        def names(caps: list[str] | None) -> list[str]:
            return sorted(cap.removeprefix("CAP_") for cap in caps or [])
        assert names(inspect["CapAdd"]) == ["NET_ADMIN"], inspect["CapAdd"]
        assert names(inspect["CapDrop"]) == ["MKNOD", "NET_RAW"], inspect["CapDrop"]
        assert [d["PathOnHost"] for d in inspect["Devices"]] == ["/dev/net/tun"], inspect["Devices"]
        assert not inspect["Privileged"] and inspect["SecurityOpt"] == ["no-new-privileges"], inspect
        status = ssh(inventory, c.host, f"cat /proc/$(docker container inspect --format '{{{{.State.Pid}}}}' "
                                        f"{c.name})/status").stdout
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        eff = int(fields["CapEff"], 16)
        assert eff >> CAP_NET_ADMIN & 1, fields["CapEff"]
        assert not any(eff >> cap & 1 for cap in (CAP_NET_RAW, CAP_MKNOD, CAP_SYS_ADMIN)), fields["CapEff"]
        # no other container of the stack holds NET_ADMIN but those whose definitions ask for it
    for c in stack.containers:
        if c.service not in ("compute", "dnsmasq", "haproxy"):
            cap_add = ssh(inventory, c.host, f"docker container inspect --format '{{{{json .HostConfig.CapAdd}}}}' "
                                             f"{c.name}").stdout.strip()
            assert cap_add in ("null", "[]"), (c.name, cap_add)


def test_a_re_created_compute_container_keeps_its_hypervisor_record(computes, inventory):
    stack, nodes = computes
    c = nodes[0]
    before_h = {h["Hypervisor Hostname"]: h["ID"] for h in admin_cli(inventory, stack, "hypervisor list")}
    before_p = {p["name"]: p["uuid"] for p in admin_cli(inventory, stack, "resource provider list")}
    before_s = {s["Host"]: s["ID"] for s in admin_cli(inventory, stack, "compute service list --service nova-compute")}
    started = ssh(inventory, c.host, f"docker container inspect --format '{{{{.Id}}}}' {c.name}").stdout.strip()
    t0 = time.monotonic()
    run_inv("remove", f"--name={c.name}", containers=SHIPPED, timeout=INV_TIMEOUT)
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    print(f"\ncompute: remove + deploy-all {time.monotonic() - t0:.1f}s")
    assert "0 failed" in out and f"{c.name}: create" in out, out
    assert ssh(inventory, c.host, f"docker container inspect --format '{{{{.Id}}}}' {c.name}").stdout.strip() != started
    assert {h["Hypervisor Hostname"]: h["ID"] for h in admin_cli(inventory, stack, "hypervisor list")} == before_h
    assert {p["name"]: p["uuid"] for p in admin_cli(inventory, stack, "resource provider list")} == before_p
    assert {s["Host"]: s["ID"] for s in admin_cli(inventory, stack,
                                                  "compute service list --service nova-compute")} == before_s
    assert health_of(c.name) == "pass"
