"""dockstack.network: constant scripts with every value passed as a separate positional argument, network_needs."""

from __future__ import annotations

import dataclasses
import re
import shlex

import pytest

from dockstack import network
from dockstack.config import Host, Inventory
from dockstack.facts import NetworkFacts, parse_network

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


# --- network_needs: one test per reason, and None when the facts show the config -----------------

PEERS = ["10.99.0.12", "10.99.0.13"]
HOST = Host("host1", "10.99.0.11")


def vxlan_ok(**kw) -> NetworkFacts:
    """Facts of a host whose VXLAN setup (shipped network) is complete, with kw changed."""
    return dataclasses.replace(NetworkFacts(bridge_up=True, vxlan_master="dsbr0", peers=frozenset(PEERS),
                                            forward_rule=True), **kw)


@pytest.fixture
def uplink_net(net):
    return dataclasses.replace(net, join="uplink", uplink="eth1")


def test_needs_nothing_when_vxlan_is_as_configured(net):
    assert network.network_needs(net, HOST, PEERS, vxlan_ok()) is None


def test_peer_order_does_not_matter(net):
    assert network.network_needs(net, HOST, list(reversed(PEERS)), vxlan_ok()) is None


@pytest.mark.parametrize("found", [NetworkFacts(), vxlan_ok(bridge_up=False)], ids=["nothing", "bridge-down"])
def test_needs_the_bridge_first(net, found):
    assert network.network_needs(net, HOST, PEERS, found) == "bridge dsbr0 missing or down"


@pytest.mark.parametrize("master", [None, "", "otherbr"], ids=["missing", "not-enslaved", "other-bridge"])
def test_needs_the_vxlan_device_on_the_bridge(net, master):
    assert network.network_needs(net, HOST, PEERS, vxlan_ok(vxlan_master=master)) == \
        "VXLAN device dsvx0 missing or not on dsbr0"


@pytest.mark.parametrize("peers", [frozenset(), frozenset(PEERS[:1]), frozenset([*PEERS, "10.99.0.14"])],
                         ids=["none", "one-missing", "one-stale"])
def test_needs_the_vxlan_peers_of_hosts_yaml(net, peers):
    assert network.network_needs(net, HOST, PEERS, vxlan_ok(peers=peers)) == "VXLAN peers differ from hosts.yaml"


def test_needs_the_forward_rule(net):
    assert network.network_needs(net, HOST, PEERS, vxlan_ok(forward_rule=False)) == \
        "FORWARD ACCEPT rule for the bridge missing"


def test_needs_nothing_when_the_uplink_is_on_the_bridge(uplink_net):
    found = NetworkFacts(bridge_up=True, uplink_master="dsbr0", forward_rule=True)
    assert network.network_needs(uplink_net, HOST, PEERS, found) is None  # peers do not matter without VXLAN


@pytest.mark.parametrize("master", [None, "otherbr"], ids=["not-enslaved", "other-bridge"])
def test_needs_the_uplink_on_the_bridge(uplink_net, master):
    found = NetworkFacts(bridge_up=True, uplink_master=master, forward_rule=True)
    assert network.network_needs(uplink_net, HOST, PEERS, found) == "uplink eth1 not on dsbr0"


@pytest.mark.parametrize("master", ["dsbr0", ""], ids=["enslaved", "not-enslaved"])
def test_a_vxlan_device_left_from_another_join_mode_must_go(uplink_net, master):
    found = NetworkFacts(bridge_up=True, vxlan_master=master, uplink_master="dsbr0", forward_rule=True)
    assert network.network_needs(uplink_net, HOST, PEERS, found) == "VXLAN device dsvx0 present with join: uplink"


def test_an_uplink_left_on_the_bridge_must_go(net):
    n = dataclasses.replace(net, uplink="eth1")  # join: vxlan, with an uplink named
    assert network.network_needs(n, HOST, PEERS, vxlan_ok(uplink_master="dsbr0")) == "uplink eth1 still on dsbr0"
    assert network.network_needs(n, HOST, PEERS, vxlan_ok(uplink_master=None)) is None


def test_join_none(net):
    n = dataclasses.replace(net, join="none")
    assert network.network_needs(n, HOST, PEERS, NetworkFacts(bridge_up=True, forward_rule=True)) is None
    assert network.network_needs(n, HOST, PEERS, NetworkFacts(bridge_up=True)) == \
        "FORWARD ACCEPT rule for the bridge missing"
    assert network.network_needs(n, HOST, PEERS, NetworkFacts(bridge_up=True, vxlan_master="dsbr0",
                                                              forward_rule=True)) == \
        "VXLAN device dsvx0 present with join: none"


def test_a_bridge_name_is_compared_whole_never_as_a_pattern(net):
    """The old `grep " master $br "` read a bridge name as a regex: ds.br0 matched dsXbr0. Now the facts
    carry the master's name and it is compared as a string."""
    line = "vxlan 7: dsvx0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master dsXbr0 state UNKNOWN"
    found = dataclasses.replace(parse_network(line), bridge_up=True, peers=frozenset(PEERS), forward_rule=True)
    assert found.vxlan_master == "dsXbr0"
    dotted = dataclasses.replace(net, bridge="ds.br0")
    assert network.network_needs(dotted, HOST, PEERS, found) == "VXLAN device dsvx0 missing or not on ds.br0"
    exact = dataclasses.replace(found, vxlan_master="ds.br0")
    assert network.network_needs(dotted, HOST, PEERS, exact) is None
