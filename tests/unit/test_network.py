"""dockstack.network: constant scripts with every value passed as a separate positional argument."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import shlex

import pytest

from dockstack import network
from dockstack.config import Host, Inventory

NASTY = "x; rm -rf / $(id) 'q' \"d\""


def script_vars(script: str) -> list[str]:
    """The names the script assigns from $1, $2, ... in order (`br=$1 mtu=$2 ...`)."""
    pairs = [(int(n), name) for name, n in re.findall(r"\b(\w+)=\$(\d+)\b", script)]
    assert [n for n, _ in pairs] == list(range(1, len(pairs) + 1))
    return [name for _, name in pairs]


def split(cmdline: str, script: str) -> list[str]:
    """The positional arguments after `sh -c SCRIPT sh`, checking the prefix."""
    argv = shlex.split(cmdline)
    assert argv[:4] == ["sh", "-c", script, "sh"]
    return argv[4:]


# --- veth_names -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "dnsmasq", "x" * 32, "collector-with-a-long-name-0123"])
def test_veth_names_fit_and_are_stable(name):
    hv, tmp = network.veth_names(name)
    assert len(hv) <= 15 and len(tmp) <= 15
    assert re.fullmatch(r"[a-z0-9]+", hv) and re.fullmatch(r"[a-z0-9]+", tmp)
    assert hv != tmp
    assert network.veth_names(name) == (hv, tmp)


def test_veth_names_differ_per_container():
    names = ["dnsmasq", "puppet", "haproxy", "galera", "openstack", "cassandra", "config", "collector", "control",
             "webui"]
    hvs = {network.veth_names(n)[0] for n in names}
    assert len(hvs) == len(names)


def test_veth_names_have_known_prefixes():
    hv, tmp = network.veth_names("web")
    assert hv.startswith("dsv") and tmp.startswith("dst")
    assert hv[3:] == tmp[3:]


# --- host_network_command -----------------------------------------------------------------------


def test_host_network_command_arguments(net):
    host = Host("host1", "10.99.0.11")
    args = split(network.host_network_command(net, host, ["10.99.0.12", "10.99.0.13"]), network.HOST_NETWORK_SCRIPT)
    names = script_vars(network.HOST_NETWORK_SCRIPT)
    assert f"shift {len(names)}" in network.HOST_NETWORK_SCRIPT
    assert dict(zip(names, args)) == {"br": "dsbr0", "mtu": "1450", "join": "vxlan", "vx": "dsvx0", "vni": "4242",
                                      "port": "4789", "local": "10.99.0.11", "uplink": ""}
    assert args[len(names):] == ["10.99.0.12", "10.99.0.13"]


def test_host_network_command_uses_underlay_and_uplink(net):
    host = Host("host1", "10.99.0.11", vxlan_address="192.0.2.11")
    n = dataclasses.replace(net, join="uplink", uplink="eth1")
    args = split(network.host_network_command(n, host, []), network.HOST_NETWORK_SCRIPT)
    values = dict(zip(script_vars(network.HOST_NETWORK_SCRIPT), args))
    assert (values["join"], values["local"], values["uplink"]) == ("uplink", "192.0.2.11", "eth1")
    assert len(args) == 8


def test_host_network_command_never_pastes_values(net):
    n = dataclasses.replace(net, bridge=NASTY, uplink="up link")
    cmd = network.host_network_command(n, Host("h", "10.0.0.1"), ["peer one; reboot"])
    args = split(cmd, network.HOST_NETWORK_SCRIPT)
    assert args[0] == NASTY
    assert args[7] == "up link"
    assert args[8] == "peer one; reboot"
    assert NASTY not in network.HOST_NETWORK_SCRIPT


def test_peers_are_the_other_hosts_underlays(net):
    hosts = (Host("a", "10.99.0.11"), Host("b", "10.99.0.12", vxlan_address="192.0.2.12"), Host("c", "10.99.0.13"))
    inv = Inventory(path="hosts.yaml", hosts=hosts, network=net)
    assert network.peers(inv, hosts[0]) == ["192.0.2.12", "10.99.0.13"]
    assert network.peers(inv, hosts[1]) == ["10.99.0.11", "10.99.0.13"]


# --- plumb_command ------------------------------------------------------------------------------------


def test_plumb_command_arguments(net):
    hv, tmp = network.veth_names("web")
    args = split(network.plumb_command(net, 4242, "web", "02:00:0a:64:00:05"), network.PLUMB_SCRIPT)
    assert dict(zip(script_vars(network.PLUMB_SCRIPT), args, strict=True)) == {
        "pid": "4242", "hv": hv, "tmp": tmp, "mac": "02:00:0a:64:00:05", "mtu": "1450", "br": "dsbr0"}


def test_plumb_command_without_mac_passes_empty_argument(net):
    args = split(network.plumb_command(net, 7, "web", None), network.PLUMB_SCRIPT)
    assert len(args) == 6
    assert args[3] == ""


def test_plumb_command_never_pastes_values(net):
    n = dataclasses.replace(net, bridge=NASTY)
    args = split(network.plumb_command(n, 7, "web", "02:00:00:00:00:01; reboot"), network.PLUMB_SCRIPT)
    assert args[3] == "02:00:00:00:00:01; reboot"
    assert args[5] == NASTY


# --- static_ip_command ----------------------------------------------------------------------------------


def test_static_ip_command_without_gateway(net):
    args = split(network.static_ip_command(net, 99, "10.100.0.5"), network.STATIC_IP_SCRIPT)
    assert dict(zip(script_vars(network.STATIC_IP_SCRIPT), args, strict=True)) == {
        "pid": "99", "cidr": "10.100.0.5/24", "gw": ""}


def test_static_ip_command_with_gateway(net):
    n = dataclasses.replace(net, gateway=ipaddress.IPv4Address("10.100.0.1"))
    args = split(network.static_ip_command(n, 99, "10.100.0.5"), network.STATIC_IP_SCRIPT)
    assert args == ["99", "10.100.0.5/24", "10.100.0.1"]


def test_static_ip_command_never_pastes_values(net):
    args = split(network.static_ip_command(net, 99, "10.0.0.5 dev lo; reboot"), network.STATIC_IP_SCRIPT)
    assert args[1] == "10.0.0.5 dev lo; reboot/24"
    assert len(args) == 3


def test_container_addr_command():
    argv = shlex.split(network.container_addr_command(1234))
    assert argv[:6] == ["nsenter", "-t", "1234", "-n", "sh", "-c"]
    assert len(argv) == 7
    assert "ip -o link show dev eth0" in argv[6]
    assert "ip -o -4 addr show dev eth0" in argv[6]
