"""dockstack.firewall: the rules dockstack owns, what `iptables -S` shows of them, and their drift, compared whole."""

from __future__ import annotations

import dataclasses

import pytest

from dockstack import firewall
from dockstack.firewall import Chains, drift, parse_chains, words

PEERS = ["10.99.0.13", "10.99.0.12"]  # hosts.yaml's order; the filter's is the addresses'
FILTER = ["-N DOCKSTACK-VXLAN",
          "-A DOCKSTACK-VXLAN -s 10.99.0.12/32 -j RETURN",
          "-A DOCKSTACK-VXLAN -s 10.99.0.13/32 -j RETURN",
          "-A DOCKSTACK-VXLAN -j DROP"]
JUMP = "-A INPUT -p udp -m udp --dport 4789 -j DOCKSTACK-VXLAN"
INPUT = ["-P INPUT ACCEPT", JUMP, "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"]
ACCEPT = "-A DOCKER-USER -i dsbr0 -o dsbr0 -j ACCEPT"
DOCKER_USER = ["-N DOCKER-USER", ACCEPT, "-A DOCKER-USER -j RETURN"]
FORWARD = ["-P FORWARD DROP", "-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-FORWARD"]


def listing(filter_: list[str] = FILTER, input_: list[str] = INPUT, docker_user: list[str] = DOCKER_USER,
            forward: list[str] = FORWARD) -> Chains:
    """What host_facts.sh reads (`iptables -S` of each chain of firewall.READ_CHAINS), parsed."""
    return parse_chains([*filter_, *input_, *docker_user, *forward])


# --- parse_chains -----------------------------------------------------------------------------


def test_parse_chains_keeps_each_chains_rules_in_order():
    found = listing()
    assert found.of("DOCKSTACK-VXLAN") == (("-A", "DOCKSTACK-VXLAN", "-s", "10.99.0.12/32", "-j", "RETURN"),
                                           ("-A", "DOCKSTACK-VXLAN", "-s", "10.99.0.13/32", "-j", "RETURN"),
                                           ("-A", "DOCKSTACK-VXLAN", "-j", "DROP"))
    assert [firewall.text(r) for r in found.of("INPUT")] == INPUT[1:]
    assert set(found.rules) == {"DOCKSTACK-VXLAN", "INPUT", "DOCKER-USER", "FORWARD"}


def test_parse_chains_tells_an_empty_chain_from_a_missing_one():
    found = parse_chains(["-N DOCKSTACK-VXLAN", "-P INPUT ACCEPT"])
    assert found.has("DOCKSTACK-VXLAN") and found.of("DOCKSTACK-VXLAN") == ()
    assert found.has("INPUT") and not found.has("DOCKER-USER")
    assert parse_chains([]) == Chains()


def test_a_comment_is_one_word_as_iptables_quotes_it():
    rule = words('-A INPUT -m comment --comment "let \\"them\\" in" -j ACCEPT')
    assert rule == ("-A", "INPUT", "-m", "comment", "--comment", 'let "them" in', "-j", "ACCEPT")
    assert words('-A INPUT -m comment --comment "open -j ACCEPT') == (  # unbalanced: its words as they stand
        "-A", "INPUT", "-m", "comment", "--comment", '"open', "-j", "ACCEPT")


# --- the rules hosts.yaml wants ----------------------------------------------------------------


def test_the_filter_lets_the_peers_in_address_order_then_drops():
    assert [firewall.text(r) for r in firewall.vxlan_filter(["10.99.0.9", *PEERS, "10.99.0.9"])] == [
        "-A DOCKSTACK-VXLAN -s 10.99.0.9/32 -j RETURN",  # numerically before .12, and once
        *FILTER[1:]]


def test_a_host_alone_drops_all_vxlan():
    assert firewall.vxlan_filter([]) == (("-A", "DOCKSTACK-VXLAN", "-j", "DROP"),)


def test_the_jump_and_the_forward_accept_as_iptables_prints_them():
    assert firewall.text(firewall.vxlan_jump(4789)) == JUMP
    assert firewall.text(firewall.forward_accept("DOCKER-USER", "dsbr0")) == ACCEPT


def test_the_forward_accept_goes_to_docker_user_when_docker_made_it():
    assert firewall.forward_chain(listing()) == "DOCKER-USER"
    assert firewall.forward_chain(listing(docker_user=[])) == "FORWARD"


# --- drift: compared whole, in order ------------------------------------------------------------


def test_the_exact_rules_are_no_drift(net):
    assert drift(net, PEERS, listing()) == []


def test_no_docker_the_accept_first_in_forward_is_no_drift(net):
    assert drift(net, PEERS, listing(docker_user=[], forward=["-P FORWARD ACCEPT", ACCEPT.replace(
        "DOCKER-USER", "FORWARD")])) == []


def test_an_extra_return_first_in_the_filter_is_drift(net):
    found = listing(filter_=[FILTER[0], "-A DOCKSTACK-VXLAN -j RETURN", *FILTER[1:]])
    assert drift(net, PEERS, found) == ["VXLAN filter: DOCKSTACK-VXLAN rule 1 is extra: -A DOCKSTACK-VXLAN -j RETURN"]


def test_an_accept_ahead_of_the_jump_is_drift(net):
    found = listing(input_=["-P INPUT ACCEPT", "-A INPUT -p udp -j ACCEPT", *INPUT[1:]])
    assert drift(net, PEERS, found) == ["VXLAN filter: INPUT rule 1 comes before the jump and may let VXLAN past the "
                                        "filter: -A INPUT -p udp -j ACCEPT"]


def test_rules_in_another_order_are_drift(net):
    swapped = listing(filter_=[FILTER[0], FILTER[2], FILTER[1], FILTER[3]])
    assert drift(net, PEERS, swapped) == [
        "VXLAN filter: DOCKSTACK-VXLAN rule 2 out of place: -A DOCKSTACK-VXLAN -s 10.99.0.12/32 -j RETURN"]
    drop_first = listing(filter_=[FILTER[0], FILTER[3], *FILTER[1:3]])
    assert drift(net, PEERS, drop_first) == [
        "VXLAN filter: DOCKSTACK-VXLAN rule 1 out of place: -A DOCKSTACK-VXLAN -j DROP"]


def test_a_missing_peer_a_stranger_and_no_drop_are_each_drift(net):
    found = listing(filter_=[FILTER[0], FILTER[1], "-A DOCKSTACK-VXLAN -s 10.99.0.99/32 -j RETURN"])
    assert drift(net, PEERS, found) == [
        "VXLAN filter: DOCKSTACK-VXLAN rule 2 is extra: -A DOCKSTACK-VXLAN -s 10.99.0.99/32 -j RETURN",
        "VXLAN filter: DOCKSTACK-VXLAN rule missing: -A DOCKSTACK-VXLAN -s 10.99.0.13/32 -j RETURN",
        "VXLAN filter: DOCKSTACK-VXLAN rule missing: -A DOCKSTACK-VXLAN -j DROP"]


def test_the_filter_gone_is_one_finding(net):
    assert drift(net, PEERS, listing(filter_=[], input_=INPUT[::2])) == ["VXLAN filter missing"]


def test_the_jump_missing_extra_or_for_another_port(net):
    assert drift(net, PEERS, listing(input_=INPUT[::2])) == [f"VXLAN filter: INPUT's jump missing: {JUMP}"]
    twice = listing(input_=[*INPUT, JUMP])
    assert drift(net, PEERS, twice) == [f"VXLAN filter: INPUT rule 3 is an extra jump: {JUMP}"]
    other = JUMP.replace("4789", "8472")
    assert drift(net, PEERS, listing(input_=[INPUT[0], other])) == [
        f"VXLAN filter: INPUT's jump missing: {JUMP}", f"VXLAN filter: INPUT rule 1 is an extra jump: {other}"]


def test_a_jump_of_its_own_ahead_of_dockstacks_is_extra_not_a_way_past(net):
    found = listing(input_=["-A INPUT -j DOCKSTACK-VXLAN", JUMP])
    assert drift(net, PEERS, found) == ["VXLAN filter: INPUT rule 1 is an extra jump: -A INPUT -j DOCKSTACK-VXLAN"]


@pytest.mark.parametrize("rule", [
    "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",  # another protocol
    "-A INPUT -p udp -m udp --dport 53 -j ACCEPT",  # another port
    "-A INPUT -p udp -m udp --dport 1:1024 -j ACCEPT",
    "-A INPUT -p udp -m multiport --dports 53,67:68 -j ACCEPT",
    "-A INPUT -s 192.0.2.0/24 -j DROP",  # drops: lets nothing past
    "-A INPUT -j REJECT --reject-with icmp-port-unreachable",
    "-A INPUT -j LOG",  # notes it, INPUT goes on
    "-A INPUT -m comment --comment counting",  # no target
    "-A INPUT -p tcp -j f2b-sshd",  # a chain of its own, for TCP only
])
def test_rules_ahead_that_cannot_let_vxlan_past_are_left_alone(net, rule):
    assert drift(net, PEERS, listing(input_=[rule, JUMP])) == []


@pytest.mark.parametrize("rule", [
    "-A INPUT -j ACCEPT",
    "-A INPUT -i lo -j ACCEPT",
    "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A INPUT -p udp -m udp --dport 4789 -j ACCEPT",
    "-A INPUT -p 17 -m udp --dport 4000:5000 -j ACCEPT",
    "-A INPUT -p udp -m udp --dport 4789: -j ACCEPT",
    "-A INPUT -p udp -m multiport --dports 53,4789 -j ACCEPT",
    "-A INPUT -p udp -m udp --dport vxlan -j ACCEPT",  # a service name: read as a may
    "-A INPUT -p udp -m udp ! --dport 53 -j ACCEPT",  # a negation: read as a may
    "-A INPUT ! -p tcp -j ACCEPT",
    "-A INPUT -s 10.0.0.0/8 -j RETURN",  # INPUT's policy decides: ACCEPT
    "-A INPUT -j ufw-before-input",  # a chain that may accept
])
def test_rules_ahead_that_may_let_vxlan_past_are_drift(net, rule):
    assert drift(net, PEERS, listing(input_=[rule, JUMP])) == [
        f"VXLAN filter: INPUT rule 1 comes before the jump and may let VXLAN past the filter: {rule}"]


def test_the_forward_accept_missing_not_first_or_twice(net):
    assert drift(net, PEERS, listing(docker_user=["-N DOCKER-USER", "-A DOCKER-USER -j RETURN"])) == [
        f"FORWARD ACCEPT rule for the bridge missing: {ACCEPT}"]
    behind = listing(docker_user=["-N DOCKER-USER", "-A DOCKER-USER -i eth0 -j DROP", ACCEPT])
    assert drift(net, PEERS, behind) == ["FORWARD ACCEPT rule for the bridge is DOCKER-USER rule 2, not the first"]
    twice = listing(docker_user=[*DOCKER_USER, ACCEPT])
    assert drift(net, PEERS, twice) == ["FORWARD ACCEPT rule for the bridge: DOCKER-USER rule 3 is an extra copy"]


def test_a_forward_accept_left_in_forward_once_docker_made_its_chain_is_extra(net):
    """Set up before Docker made DOCKER-USER, the ACCEPT went to FORWARD: a copy dockstack no longer wants."""
    found = listing(forward=[*FORWARD, "-A FORWARD -i dsbr0 -o dsbr0 -j ACCEPT"])
    assert drift(net, PEERS, found) == ["FORWARD ACCEPT rule for the bridge: FORWARD rule 3 is an extra copy"]


def test_another_bridges_accept_is_not_dockstacks(net):
    found = listing(docker_user=[*DOCKER_USER, "-A DOCKER-USER -i dsbr9 -o dsbr9 -j ACCEPT"])
    assert drift(net, PEERS, found) == []


@pytest.mark.parametrize("join", ["uplink", "none"])
def test_without_vxlan_the_filter_must_go(net, join):
    n = dataclasses.replace(net, join=join, uplink="eth1")
    assert drift(n, PEERS, listing(filter_=[], input_=INPUT[::2])) == []
    assert drift(n, PEERS, listing()) == [f"VXLAN filter present with join: {join}"]
    assert drift(n, PEERS, listing(input_=INPUT[::2])) == [f"VXLAN filter present with join: {join}"]


def test_another_bridge_name_and_port_come_from_hosts_yaml(net):
    n = dataclasses.replace(net, bridge="br-x", vxlan_port=8472)
    found = listing(input_=[JUMP.replace("4789", "8472")],
                    docker_user=["-N DOCKER-USER", "-A DOCKER-USER -i br-x -o br-x -j ACCEPT"])
    assert drift(n, PEERS, found) == []
