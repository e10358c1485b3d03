"""dockstack.network: constant scripts with every value passed as a separate positional argument, network_needs."""

from __future__ import annotations

import dataclasses
import re
import shlex

import pytest

from dockstack import firewall, network
from dockstack.config import Host, Inventory
from dockstack.facts import NetworkFacts, parse_network
from dockstack.firewall import parse_chains

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
# the rules a set-up host shows (iptables -S of firewall.READ_CHAINS), with VXLAN and without
VXLAN_RULES = ["-N DOCKSTACK-VXLAN", "-A DOCKSTACK-VXLAN -s 10.99.0.12/32 -j RETURN",
               "-A DOCKSTACK-VXLAN -s 10.99.0.13/32 -j RETURN", "-A DOCKSTACK-VXLAN -j DROP",
               "-P INPUT ACCEPT", "-A INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN"]
FORWARD_RULES = ["-N DOCKER-USER", "-A DOCKER-USER -i dsbr0 -o dsbr0 -j ACCEPT", "-A DOCKER-USER -j RETURN"]


def vxlan_ok(**kw) -> NetworkFacts:
    """Facts of a host whose VXLAN setup (shipped network) is complete, with kw changed."""
    return dataclasses.replace(NetworkFacts(bridge_up=True, vxlan_master="dsbr0", peers=frozenset(PEERS),
                                            firewall=parse_chains(VXLAN_RULES + FORWARD_RULES)), **kw)


def plain_ok(**kw) -> NetworkFacts:
    """Facts of a host set up without VXLAN (join: uplink or none): the bridge and its ACCEPT."""
    return dataclasses.replace(NetworkFacts(bridge_up=True, firewall=parse_chains(FORWARD_RULES)), **kw)


@pytest.fixture
def uplink_net(net):
    return dataclasses.replace(net, join="uplink", uplink="eth1")


def test_needs_nothing_when_vxlan_is_as_configured(net):
    assert network.network_needs(net, HOST, PEERS, vxlan_ok()) is None


def test_peer_order_does_not_matter(net):
    assert network.network_needs(net, HOST, list(reversed(PEERS)), vxlan_ok()) is None


def test_needs_the_bridge_first_and_says_what_of_the_rules_is_missing(net):
    assert network.network_needs(net, HOST, PEERS, vxlan_ok(bridge_up=False)) == "bridge dsbr0 missing or down"
    assert network.network_needs(net, HOST, PEERS, NetworkFacts()) == \
        "bridge dsbr0 missing or down; VXLAN filter missing; FORWARD ACCEPT rule for the bridge missing: " \
        "-A FORWARD -i dsbr0 -o dsbr0 -j ACCEPT"


@pytest.mark.parametrize("master", [None, "", "otherbr"], ids=["missing", "not-enslaved", "other-bridge"])
def test_needs_the_vxlan_device_on_the_bridge(net, master):
    assert network.network_needs(net, HOST, PEERS, vxlan_ok(vxlan_master=master)) == \
        "VXLAN device dsvx0 missing or not on dsbr0"


@pytest.mark.parametrize("peers", [frozenset(), frozenset(PEERS[:1]), frozenset([*PEERS, "10.99.0.14"])],
                         ids=["none", "one-missing", "one-stale"])
def test_needs_the_vxlan_peers_of_hosts_yaml(net, peers):
    assert network.network_needs(net, HOST, PEERS, vxlan_ok(peers=peers)) == "VXLAN peers differ from hosts.yaml"


def test_needs_the_forward_rule(net):
    found = vxlan_ok(firewall=parse_chains([*VXLAN_RULES, "-N DOCKER-USER", "-A DOCKER-USER -j RETURN"]))
    assert network.network_needs(net, HOST, PEERS, found) == \
        "FORWARD ACCEPT rule for the bridge missing: -A DOCKER-USER -i dsbr0 -o dsbr0 -j ACCEPT"


def test_needs_nothing_when_the_uplink_is_on_the_bridge(uplink_net):
    found = plain_ok(uplink_master="dsbr0")
    assert network.network_needs(uplink_net, HOST, PEERS, found) is None  # peers do not matter without VXLAN


@pytest.mark.parametrize("master", [None, "otherbr"], ids=["not-enslaved", "other-bridge"])
def test_needs_the_uplink_on_the_bridge(uplink_net, master):
    found = plain_ok(uplink_master=master)
    assert network.network_needs(uplink_net, HOST, PEERS, found) == "uplink eth1 not on dsbr0"


@pytest.mark.parametrize(("rules", "reason"), [
    (["-A DOCKSTACK-VXLAN -j RETURN", *VXLAN_RULES[1:]],
     "VXLAN filter: DOCKSTACK-VXLAN rule 1 is extra: -A DOCKSTACK-VXLAN -j RETURN"),
    ([*VXLAN_RULES[:2], *VXLAN_RULES[3:]],
     "VXLAN filter: DOCKSTACK-VXLAN rule missing: -A DOCKSTACK-VXLAN -s 10.99.0.13/32 -j RETURN"),
    (VXLAN_RULES[:5], "VXLAN filter: INPUT's jump missing: -A INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN"),
    ([*VXLAN_RULES[:5], "-A INPUT -j ACCEPT", VXLAN_RULES[5]],
     "VXLAN filter: INPUT rule 1 comes before the jump and may let VXLAN past the filter: -A INPUT -j ACCEPT"),
], ids=["extra-return-first", "peer-missing", "jump-missing", "accept-ahead"])
def test_needs_the_vxlan_filter_as_hosts_yaml_says_compared_whole(net, rules, reason):
    found = vxlan_ok(firewall=parse_chains(rules + FORWARD_RULES))
    assert network.network_needs(net, HOST, PEERS, found) == reason


def test_every_finding_is_said(net):
    found = vxlan_ok(bridge_up=False, firewall=parse_chains(["-A DOCKSTACK-VXLAN -j RETURN", *VXLAN_RULES[1:]]))
    assert network.network_needs(net, HOST, PEERS, found) == (
        "bridge dsbr0 missing or down; VXLAN filter: DOCKSTACK-VXLAN rule 1 is extra: -A DOCKSTACK-VXLAN -j RETURN; "
        "FORWARD ACCEPT rule for the bridge missing: -A FORWARD -i dsbr0 -o dsbr0 -j ACCEPT")


def test_a_vxlan_filter_left_from_another_join_mode_must_go(uplink_net):
    found = plain_ok(uplink_master="dsbr0", firewall=parse_chains(VXLAN_RULES + FORWARD_RULES))
    assert network.network_needs(uplink_net, HOST, PEERS, found) == "VXLAN filter present with join: uplink"


def test_the_vxlan_filter_is_read_from_iptables_rules():
    lines = [f"rule {r}" for r in VXLAN_RULES + FORWARD_RULES]
    assert parse_network("\n".join(lines)).firewall == parse_chains(VXLAN_RULES + FORWARD_RULES)


@pytest.mark.parametrize("master", ["dsbr0", ""], ids=["enslaved", "not-enslaved"])
def test_a_vxlan_device_left_from_another_join_mode_must_go(uplink_net, master):
    found = plain_ok(vxlan_master=master, uplink_master="dsbr0")
    assert network.network_needs(uplink_net, HOST, PEERS, found) == "VXLAN device dsvx0 present with join: uplink"


def test_an_uplink_left_on_the_bridge_must_go(net):
    n = dataclasses.replace(net, uplink="eth1")  # join: vxlan, with an uplink named
    assert network.network_needs(n, HOST, PEERS, vxlan_ok(uplink_master="dsbr0")) == "uplink eth1 still on dsbr0"
    assert network.network_needs(n, HOST, PEERS, vxlan_ok(uplink_master=None)) is None


def test_join_none(net):
    n = dataclasses.replace(net, join="none")
    assert network.network_needs(n, HOST, PEERS, plain_ok()) is None
    assert network.network_needs(n, HOST, PEERS, NetworkFacts(bridge_up=True)) == \
        "FORWARD ACCEPT rule for the bridge missing: -A FORWARD -i dsbr0 -o dsbr0 -j ACCEPT"
    assert network.network_needs(n, HOST, PEERS, plain_ok(vxlan_master="dsbr0")) == \
        "VXLAN device dsvx0 present with join: none"


def test_a_bridge_name_is_compared_whole_never_as_a_pattern(net):
    """The old `grep " master $br "` read a bridge name as a regex: ds.br0 matched dsXbr0. Now the facts
    carry the master's name and it is compared as a string."""
    line = "vxlan 7: dsvx0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master dsXbr0 state UNKNOWN"
    dotted = dataclasses.replace(net, bridge="ds.br0")
    rules = parse_chains([*VXLAN_RULES, "-N DOCKER-USER", "-A DOCKER-USER -i ds.br0 -o ds.br0 -j ACCEPT"])
    found = dataclasses.replace(parse_network(line), bridge_up=True, peers=frozenset(PEERS), firewall=rules)
    assert found.vxlan_master == "dsXbr0"
    assert network.network_needs(dotted, HOST, PEERS, found) == "VXLAN device dsvx0 missing or not on ds.br0"
    exact = dataclasses.replace(found, vxlan_master="ds.br0")
    assert network.network_needs(dotted, HOST, PEERS, exact) is None


# --- HOST_NETWORK_SCRIPT, run here with fake ip, bridge, iptables and iptables-restore ---------------

FAKE_IP = """for a; do last=$a; done
if [ "$1 $2" = "link add" ] && [ -f "$FAKEBIN_STATE/fail-add" ]; then
  echo "RTNETLINK answers: Operation not permitted" >&2; exit 2
fi
case "$1 $2 $3" in  # a device exists when the test wrote its `ip -o link` line to the state folder
  "link show dev"|"-o link show") [ -f "$FAKEBIN_STATE/link-$last" ] || exit 1; cat "$FAKEBIN_STATE/link-$last" ;;
esac
"""
FAKE_BRIDGE = 'if [ "$1 $2" = "fdb show" ]; then cat "$FAKEBIN_STATE/fdb" 2>/dev/null; fi\nexit 0\n'
# `iptables -w -S CHAIN`: the chain's listing the test wrote (state chain-CHAIN), else "no chain by that name"
FAKE_IPTABLES = """[ "$2" = -S ] && [ -f "$FAKEBIN_STATE/chain-$3" ] || exit 1
cat "$FAKEBIN_STATE/chain-$3"
"""
# `iptables-restore -w --noflush`: what it was given, kept (state restore); state fail-restore: refused, as a line
# that does not apply makes the real one refuse the whole transaction
FAKE_RESTORE = """cat > "$FAKEBIN_STATE/restore"
if [ -f "$FAKEBIN_STATE/fail-restore" ]; then echo "iptables-restore: line 5 failed" >&2; exit 1; fi
"""

ALL_ZEROS = "00:00:00:00:00:00"
DOCKER_USER = "-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n"


@pytest.fixture
def host_network(fakebin):
    """Runs the host network command for (net, peers) with fake ip, bridge and iptables; state: file -> text (a
    chain's listing as chain_NAME)."""
    for name, body in {"ip": FAKE_IP, "bridge": FAKE_BRIDGE, "iptables": FAKE_IPTABLES,
                       "iptables-restore": FAKE_RESTORE}.items():
        fakebin.add(name, body)

    def run(net, peer_addresses: list[str], **state: str):
        for name, text in state.items():
            file = f"chain-{name[6:].replace('_', '-')}" if name.startswith("chain_") else name.replace("_", "-")
            (fakebin.state / file).write_text(text)
        cmd = network.host_network_command(net, Host("host1", "10.99.0.11"), peer_addresses)
        return fakebin.run(["sh", "-c", cmd])

    return run


def restored(fakebin) -> list[str]:
    """What the script handed iptables-restore, line by line."""
    return (fakebin.state / "restore").read_text().splitlines()


def link(dev: str, master: str | None = None) -> str:
    where = f" master {master}" if master else ""
    return f"3: {dev}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue{where} state UP mode DEFAULT\n"


def test_host_network_script_sets_up_a_fresh_host(net, host_network, fakebin):
    proc = host_network(net, ["10.99.0.13", "10.99.0.12"], chain_INPUT="-P INPUT ACCEPT\n",
                        chain_FORWARD="-P FORWARD ACCEPT\n")
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls() == [
        "ip link show dev dsbr0",
        "ip link add dsbr0 mtu 1450 type bridge",
        "ip link set dsbr0 up",
        "iptables -w -S DOCKER-USER",  # the rules before the device: it never takes frames unfiltered
        "iptables -w -S INPUT",
        "iptables -w -S DOCKER-USER",
        "iptables -w -S FORWARD",
        "iptables-restore -w --noflush",
        "ip link show dev dsvx0",
        "ip link add dsvx0 mtu 1450 type vxlan id 4242 local 10.99.0.11 dstport 4789",
        "ip link set dsvx0 master dsbr0 up",
        "bridge fdb show dev dsvx0",
        f"bridge fdb append {ALL_ZEROS} dev dsvx0 dst 10.99.0.12",
        f"bridge fdb append {ALL_ZEROS} dev dsvx0 dst 10.99.0.13",
    ]
    assert restored(fakebin) == [
        "*filter",
        ":DOCKSTACK-VXLAN - [0:0]",
        "-A DOCKSTACK-VXLAN -s 10.99.0.12/32 -j RETURN",
        "-A DOCKSTACK-VXLAN -s 10.99.0.13/32 -j RETURN",
        "-A DOCKSTACK-VXLAN -j DROP",
        "-I INPUT 1 -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN",
        "-I FORWARD 1 -i dsbr0 -o dsbr0 -j ACCEPT",
        "COMMIT",
    ]


def test_host_network_script_writes_the_rules_firewall_py_expects(net, host_network, fakebin):
    """The script and dockstack.firewall say the same rules: what the one writes, the other finds no drift in (as
    `iptables -S` prints the restored lines: -I CHAIN 1 as -A CHAIN, first)."""
    peers = ["10.99.0.13", "10.99.0.9", "10.99.0.12"]
    proc = host_network(net, peers, chain_DOCKER_USER=DOCKER_USER)
    assert proc.returncode == 0, proc.stderr
    lines = restored(fakebin)
    chain = [line for line in lines if line.startswith("-A DOCKSTACK-VXLAN ")]
    firsts = [line.replace("-I ", "-A ", 1).replace(" 1 ", " ", 1) for line in lines if line.startswith("-I ")]
    found = parse_chains(["-N DOCKSTACK-VXLAN", *chain, "-P INPUT ACCEPT",
                          *(r for r in firsts if r.startswith("-A INPUT ")), "-N DOCKER-USER",
                          *(r for r in firsts if r.startswith("-A DOCKER-USER ")), "-A DOCKER-USER -j RETURN"])
    assert firewall.drift(net, peers, found) == []


def test_host_network_script_rewrites_the_rules_whole_in_one_transaction(net, host_network, fakebin):
    """Bridge and device kept, the missing peer added (10.99.0.1 is no part of 10.99.0.12), the stale one
    removed, a unicast entry ignored; the filter emptied and filled again, every jump to it (one with a comment) and
    every copy of the bridge's ACCEPT removed and put back first, all in one iptables-restore: nothing of what
    others wrote (the ssh ACCEPT, another bridge's) is touched."""
    fdb = (f"{ALL_ZEROS} dst 10.99.0.12 self permanent\n{ALL_ZEROS} dst 10.99.0.99 self permanent\n"
           "02:42:0a:64:00:05 dst 10.99.0.13 self\n")
    jump = "-A INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN"
    commented = '-A INPUT -m comment --comment "a b" -j DOCKSTACK-VXLAN'
    proc = host_network(net, ["10.99.0.12", "10.99.0.1"], link_dsbr0=link("dsbr0"),
                        link_dsvx0=link("dsvx0", "dsbr0"), fdb=fdb,
                        chain_INPUT=f"-P INPUT ACCEPT\n-A INPUT -p udp -j ACCEPT\n{jump}\n{commented}\n",
                        chain_DOCKSTACK_VXLAN="-N DOCKSTACK-VXLAN\n-A DOCKSTACK-VXLAN -j RETURN\n",
                        chain_DOCKER_USER="-N DOCKER-USER\n-A DOCKER-USER -i dsbr9 -o dsbr9 -j ACCEPT\n"
                                          "-A DOCKER-USER -i dsbr0 -o dsbr0 -j ACCEPT\n-A DOCKER-USER -j RETURN\n",
                        chain_FORWARD="-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n"
                                      "-A FORWARD -i dsbr0 -o dsbr0 -j ACCEPT\n")
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls("ip", "bridge", "iptables-restore") == [
        "ip link show dev dsbr0",
        "ip link set dsbr0 up",
        "iptables-restore -w --noflush",
        "ip link show dev dsvx0",
        "ip link set dsvx0 master dsbr0 up",
        "bridge fdb show dev dsvx0",
        f"bridge fdb append {ALL_ZEROS} dev dsvx0 dst 10.99.0.1",
        f"bridge fdb del {ALL_ZEROS} dev dsvx0 dst 10.99.0.99",
    ]
    assert restored(fakebin) == [
        "*filter",
        ":DOCKSTACK-VXLAN - [0:0]",
        "-A DOCKSTACK-VXLAN -s 10.99.0.1/32 -j RETURN",
        "-A DOCKSTACK-VXLAN -s 10.99.0.12/32 -j RETURN",
        "-A DOCKSTACK-VXLAN -j DROP",
        "-D INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN",
        '-D INPUT -m comment --comment "a b" -j DOCKSTACK-VXLAN',
        "-D DOCKER-USER -i dsbr0 -o dsbr0 -j ACCEPT",
        "-D FORWARD -i dsbr0 -o dsbr0 -j ACCEPT",
        "-I INPUT 1 -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN",
        "-I DOCKER-USER 1 -i dsbr0 -o dsbr0 -j ACCEPT",
        "COMMIT",
    ]


def test_host_network_script_uplink_join_removes_the_vxlan_device_and_its_filter(net, host_network, fakebin):
    n = dataclasses.replace(net, join="uplink", uplink="eth1")
    proc = host_network(n, ["10.99.0.12"], link_dsbr0=link("dsbr0"), link_dsvx0=link("dsvx0", "dsbr0"),
                        link_eth1=link("eth1"), chain_DOCKER_USER=DOCKER_USER,
                        chain_INPUT="-P INPUT ACCEPT\n-A INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN\n",
                        chain_DOCKSTACK_VXLAN="-N DOCKSTACK-VXLAN\n-A DOCKSTACK-VXLAN -j DROP\n")
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls("ip", "bridge") == [
        "ip link show dev dsbr0",
        "ip link set dsbr0 up",
        "ip link show dev dsvx0",
        "ip link del dsvx0",  # never both joins on one bridge
        "ip link set eth1 master dsbr0 up",
    ]
    assert restored(fakebin) == [
        "*filter",
        "-D INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN",
        "-F DOCKSTACK-VXLAN",
        "-X DOCKSTACK-VXLAN",
        "-I DOCKER-USER 1 -i dsbr0 -o dsbr0 -j ACCEPT",
        "COMMIT",
    ]


def test_host_network_script_join_none_takes_the_uplink_off_the_bridge(net, host_network, fakebin):
    n = dataclasses.replace(net, join="none", uplink="eth1")
    proc = host_network(n, [], link_dsbr0=link("dsbr0"), link_eth1=link("eth1", "dsbr0"),
                        chain_DOCKER_USER=DOCKER_USER)
    assert proc.returncode == 0, proc.stderr
    assert fakebin.calls("ip", "bridge") == [
        "ip link show dev dsbr0",
        "ip link set dsbr0 up",
        "ip link show dev dsvx0",
        "ip -o link show dev eth1",
        "ip link set eth1 nomaster",
    ]
    assert restored(fakebin) == ["*filter", "-I DOCKER-USER 1 -i dsbr0 -o dsbr0 -j ACCEPT", "COMMIT"]


def test_host_network_script_stops_at_the_first_failure(net, host_network, fakebin):
    proc = host_network(net, ["10.99.0.12"], fail_add="")
    assert proc.returncode == 2 and "Operation not permitted" in proc.stderr
    assert fakebin.calls() == ["ip link show dev dsbr0", "ip link add dsbr0 mtu 1450 type bridge"]


def test_no_vxlan_device_when_the_rules_were_refused(net, host_network, fakebin):
    """iptables-restore refuses the transaction whole: the device that would take frames unfiltered is not made."""
    proc = host_network(net, ["10.99.0.12"], link_dsbr0=link("dsbr0"), fail_restore="")
    assert proc.returncode == 1 and "line 5 failed" in proc.stderr
    assert fakebin.calls("ip")[-1] == "ip link set dsbr0 up"  # and then nothing


@pytest.mark.parametrize(("field", "value", "peers", "said"), [
    ("vxlan_port", "4789\n-A INPUT -j ACCEPT", ["10.99.0.12"], "VXLAN port"),
    ("bridge", "br0 -j ACCEPT", ["10.99.0.12"], "bridge name"),
    ("join", "vxlan", ["10.99.0.12/0 -j ACCEPT"], "peer 10.99.0.12/0 -j ACCEPT is no IPv4 address"),
    ("join", "vxlan", ["10.99.0.12\n-I INPUT 1 -j ACCEPT"], "is no IPv4 address"),
], ids=["port", "bridge", "peer-words", "peer-line"])
def test_host_network_script_refuses_a_value_that_would_add_a_rule(net, host_network, fakebin, field, value, peers,
                                                                    said):
    """Config validation keeps such values out; the script, which puts them into iptables-restore's lines, checks
    them again before it touches anything."""
    proc = host_network(dataclasses.replace(net, **{field: value}), peers)
    assert proc.returncode == 2 and said in proc.stderr
    assert fakebin.calls() == []
