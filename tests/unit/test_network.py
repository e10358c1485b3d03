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
                                            forward_rule=True, filter_peers=frozenset(PEERS), filter_closed=True,
                                            filter_ports=frozenset({4789})), **kw)


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


@pytest.mark.parametrize("kw", [{"filter_closed": False}, {"filter_peers": frozenset(PEERS[:1])},
                                {"filter_peers": frozenset([*PEERS, "10.99.0.99"])}, {"filter_ports": frozenset()},
                                {"filter_ports": frozenset({4789, 8472})}])
def test_needs_the_vxlan_filter_that_lets_only_the_peers_send(net, kw):
    assert network.network_needs(net, HOST, PEERS, vxlan_ok(**kw)) == \
        "VXLAN filter (only the stack's hosts may send) missing or not as hosts.yaml says"


def test_a_vxlan_filter_left_from_another_join_mode_must_go(uplink_net):
    found = NetworkFacts(bridge_up=True, uplink_master="dsbr0", forward_rule=True, filter_ports=frozenset({4789}))
    assert network.network_needs(uplink_net, HOST, PEERS, found) == "VXLAN filter present with join: uplink"


def test_the_vxlan_filter_is_read_from_iptables_rules():
    lines = ["vxfilter -N DOCKSTACK-VXLAN", "vxfilter -A DOCKSTACK-VXLAN -s 10.99.0.12/32 -j RETURN",
             "vxfilter -A DOCKSTACK-VXLAN -s 10.99.0.13/32 -j RETURN", "vxfilter -A DOCKSTACK-VXLAN -j DROP",
             "vxjump -A INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN"]
    found = parse_network("\n".join(lines))
    assert (found.filter_peers, found.filter_closed, found.filter_ports) == (frozenset(PEERS), True,
                                                                             frozenset({4789}))
    open_ended = parse_network("\n".join([*lines[:3], lines[4]]))  # no DROP last: anyone else gets through
    assert not open_ended.filter_closed


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
    found = dataclasses.replace(parse_network(line), bridge_up=True, peers=frozenset(PEERS), forward_rule=True,
                                filter_peers=frozenset(PEERS), filter_closed=True, filter_ports=frozenset({4789}))
    assert found.vxlan_master == "dsXbr0"
    dotted = dataclasses.replace(net, bridge="ds.br0")
    assert network.network_needs(dotted, HOST, PEERS, found) == "VXLAN device dsvx0 missing or not on ds.br0"
    exact = dataclasses.replace(found, vxlan_master="ds.br0")
    assert network.network_needs(dotted, HOST, PEERS, exact) is None


# --- HOST_NETWORK_SCRIPT, run here with fake ip, bridge and iptables ------------------------------

FAKE_IP = """for a; do last=$a; done
if [ "$1 $2" = "link add" ] && [ -f "$FAKEBIN_STATE/fail-add" ]; then
  echo "RTNETLINK answers: Operation not permitted" >&2; exit 2
fi
case "$1 $2 $3" in  # a device exists when the test wrote its `ip -o link` line to the state folder
  "link show dev"|"-o link show") [ -f "$FAKEBIN_STATE/link-$last" ] || exit 1; cat "$FAKEBIN_STATE/link-$last" ;;
esac
"""
FAKE_BRIDGE = 'if [ "$1 $2" = "fdb show" ]; then cat "$FAKEBIN_STATE/fdb" 2>/dev/null; fi\nexit 0\n'
FAKE_IPTABLES = """case "$2 $3" in
  "-S DOCKER-USER") [ -f "$FAKEBIN_STATE/docker-user" ] ;;
  "-S INPUT") cat "$FAKEBIN_STATE/input" 2>/dev/null ;;
  "-S DOCKSTACK-VXLAN") [ -f "$FAKEBIN_STATE/vxfilter" ] ;;
  -C*) [ -f "$FAKEBIN_STATE/rule" ] ;;
esac
"""

ALL_ZEROS = "00:00:00:00:00:00"


@pytest.fixture
def host_network(fakebin):
    """Runs the host network command for (net, peers) with fake ip, bridge and iptables; state: file -> text."""
    for name, body in {"ip": FAKE_IP, "bridge": FAKE_BRIDGE, "iptables": FAKE_IPTABLES}.items():
        fakebin.add(name, body)

    def run(net, peer_addresses: list[str], **state: str):
        for name, text in state.items():
            (fakebin.state / name.replace("_", "-")).write_text(text)
        cmd = network.host_network_command(net, Host("host1", "10.99.0.11"), peer_addresses)
        return fakebin.run(["sh", "-c", cmd])

    return run


def link(dev: str, master: str | None = None) -> str:
    where = f" master {master}" if master else ""
    return f"3: {dev}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue{where} state UP mode DEFAULT\n"


def test_host_network_script_sets_up_a_fresh_host(net, host_network, fakebin):
    proc = host_network(net, ["10.99.0.12", "10.99.0.13"])
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls() == [
        "ip link show dev dsbr0",
        "ip link add dsbr0 mtu 1450 type bridge",
        "ip link set dsbr0 up",
        "ip link show dev dsvx0",
        "ip link add dsvx0 mtu 1450 type vxlan id 4242 local 10.99.0.11 dstport 4789",
        "ip link set dsvx0 master dsbr0 up",
        "bridge fdb show dev dsvx0",
        f"bridge fdb append {ALL_ZEROS} dev dsvx0 dst 10.99.0.12",
        f"bridge fdb append {ALL_ZEROS} dev dsvx0 dst 10.99.0.13",
        "iptables -w -S INPUT",  # no jump to the filter yet
        "iptables -w -S DOCKSTACK-VXLAN",  # nor its chain
        "iptables -w -N DOCKSTACK-VXLAN",
        "iptables -w -A DOCKSTACK-VXLAN -s 10.99.0.12 -j RETURN",
        "iptables -w -A DOCKSTACK-VXLAN -s 10.99.0.13 -j RETURN",
        "iptables -w -A DOCKSTACK-VXLAN -j DROP",
        "iptables -w -I INPUT 1 -p udp --dport 4789 -j DOCKSTACK-VXLAN",
        "iptables -w -S DOCKER-USER",
        "iptables -w -C FORWARD -i dsbr0 -o dsbr0 -j ACCEPT",
        "iptables -w -I FORWARD 1 -i dsbr0 -o dsbr0 -j ACCEPT",
    ]


def test_host_network_script_only_changes_what_differs(net, host_network, fakebin):
    """Bridge and device kept, the missing peer added (10.99.0.1 is no part of 10.99.0.12), the stale one
    removed, a unicast entry ignored; the rule already in Docker's DOCKER-USER chain stays."""
    fdb = (f"{ALL_ZEROS} dst 10.99.0.12 self permanent\n{ALL_ZEROS} dst 10.99.0.99 self permanent\n"
           "02:42:0a:64:00:05 dst 10.99.0.13 self\n")
    jump = "-A INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN"
    proc = host_network(net, ["10.99.0.12", "10.99.0.1"], link_dsbr0=link("dsbr0"),
                        link_dsvx0=link("dsvx0", "dsbr0"), fdb=fdb, docker_user="", rule="",
                        input=f"-P INPUT ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\n{jump}\n", vxfilter="")
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls() == [
        "ip link show dev dsbr0",
        "ip link set dsbr0 up",
        "ip link show dev dsvx0",
        "ip link set dsvx0 master dsbr0 up",
        "bridge fdb show dev dsvx0",
        f"bridge fdb append {ALL_ZEROS} dev dsvx0 dst 10.99.0.1",
        f"bridge fdb del {ALL_ZEROS} dev dsvx0 dst 10.99.0.99",
        "iptables -w -S INPUT",
        "iptables -w -D INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN",  # the old filter goes whole
        "iptables -w -S DOCKSTACK-VXLAN",
        "iptables -w -F DOCKSTACK-VXLAN",
        "iptables -w -X DOCKSTACK-VXLAN",
        "iptables -w -N DOCKSTACK-VXLAN",  # and comes back with the peers of now
        "iptables -w -A DOCKSTACK-VXLAN -s 10.99.0.12 -j RETURN",
        "iptables -w -A DOCKSTACK-VXLAN -s 10.99.0.1 -j RETURN",
        "iptables -w -A DOCKSTACK-VXLAN -j DROP",
        "iptables -w -I INPUT 1 -p udp --dport 4789 -j DOCKSTACK-VXLAN",
        "iptables -w -S DOCKER-USER",
        "iptables -w -C DOCKER-USER -i dsbr0 -o dsbr0 -j ACCEPT",
    ]


def test_host_network_script_uplink_join_removes_the_vxlan_device(net, host_network, fakebin):
    n = dataclasses.replace(net, join="uplink", uplink="eth1")
    proc = host_network(n, ["10.99.0.12"], link_dsbr0=link("dsbr0"), link_dsvx0=link("dsvx0", "dsbr0"),
                        link_eth1=link("eth1"), rule="")
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls("ip", "bridge") == [
        "ip link show dev dsbr0",
        "ip link set dsbr0 up",
        "ip link show dev dsvx0",
        "ip link del dsvx0",  # never both joins on one bridge
        "ip link set eth1 master dsbr0 up",
    ]


def test_host_network_script_join_none_takes_the_uplink_off_the_bridge(net, host_network, fakebin):
    n = dataclasses.replace(net, join="none", uplink="eth1")
    proc = host_network(n, [], link_dsbr0=link("dsbr0"), link_eth1=link("eth1", "dsbr0"), rule="")
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls("ip", "bridge") == [
        "ip link show dev dsbr0",
        "ip link set dsbr0 up",
        "ip link show dev dsvx0",
        "ip -o link show dev eth1",
        "ip link set eth1 nomaster",
    ]


def test_host_network_script_stops_at_the_first_failure(net, host_network, fakebin):
    proc = host_network(net, ["10.99.0.12"], fail_add="")
    assert proc.returncode == 2 and "Operation not permitted" in proc.stderr
    assert fakebin.calls() == ["ip link show dev dsbr0", "ip link add dsbr0 mtu 1450 type bridge"]
