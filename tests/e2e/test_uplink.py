"""network.join: uplink: hosts that share a LAN join their bridges through a NIC instead of VXLAN."""

from __future__ import annotations

import json
from dataclasses import replace

import yaml

from dockstack import network

from .helpers import HOSTS_FILE, docker_exec, run_inv, ssh, wipe_stack

LAB = "b"


def bridge_ports(inventory, host: str, bridge: str) -> set[str]:
    out = ssh(inventory, host, f"ip -o link show master {bridge}", check=False).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def test_containers_on_hosts_joined_by_an_uplink(inventory, remotes, tmp_path):
    wipe_stack(remotes)
    data = yaml.safe_load(HOSTS_FILE.read_text())
    data["network"].update(join="uplink", uplink="eth1", bridge="dsbr1")  # each lab host's eth1 is on one LAN
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        for name in ("dnsmasq", "galera", "openstack"):
            run_inv("create", f"--name={name}", f"--hosts-file={hosts}")
        for h in ("host1", "host2", "host3"):
            ports = bridge_ports(inventory, h, "dsbr1")
            assert "eth1" in ports and "dsvx0" not in ports
        rows = {r["name"]: r for r in json.loads(run_inv("ipam.show", "--json", f"--hosts-file={hosts}").stdout)}
        assert rows["galera"]["ip"].startswith("10.100.0.1")  # leased by dnsmasq on host1, over the LAN
        got = docker_exec(inventory, "host3", "openstack", "getent hosts galera.dockstack.lab").split()[0]
        assert got == rows["galera"]["ip"]
    finally:
        wipe_stack(remotes)


def test_switching_join_mode_never_leaves_both_on_one_bridge(inventory, remotes):
    """VXLAN and an uplink on the same bridge would loop frames between hosts."""
    h = inventory.host("host1")
    r = remotes["host1"]
    base = replace(inventory.network, bridge="dsbr2", vxlan_device="dsvx2", uplink="eth1")
    peers = network.peers(inventory, h)
    try:
        r.shell(network.host_network_command(replace(base, join="vxlan"), h, peers), "vxlan")
        assert bridge_ports(inventory, "host1", "dsbr2") == {"dsvx2"}
        r.shell(network.host_network_command(replace(base, join="uplink"), h, peers), "uplink")
        assert bridge_ports(inventory, "host1", "dsbr2") == {"eth1"}
        r.shell(network.host_network_command(replace(base, join="vxlan"), h, peers), "vxlan again")
        assert bridge_ports(inventory, "host1", "dsbr2") == {"dsvx2"}
        r.shell(network.host_network_command(replace(base, join="none"), h, peers), "none")
        assert bridge_ports(inventory, "host1", "dsbr2") == set()
    finally:
        r.run(["sh", "-c", "ip link del dsvx2; ip link del dsbr2"], "clean up", check=False)
