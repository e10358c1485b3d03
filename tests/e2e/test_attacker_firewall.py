"""Firewall rules are facts (issue 30, probe 7), probed as someone with root on a stack host would leave them: a rule
slipped into the VXLAN filter, or an ACCEPT put ahead of INPUT's jump to it, lets any sender onto the segment. The
next deploy-all finds each (the chains are compared whole, in order, with what hosts.yaml wants), says what it
found on which host, and writes dockstack's rules again: the filter exactly as wanted, its jump first in INPUT.

Runs on the engine stack, deployed by its first fixture (whatever ran before); changes only iptables rules, and
takes out what it planted whatever happens.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from dockstack import network

from .helpers import run_inv, ssh

LAB = "b"
CHAIN = "DOCKSTACK-VXLAN"


def rules(inventory, host: str, chain: str) -> list[str]:
    """A chain's rules on a host, as `iptables -S` prints them."""
    out = ssh(inventory, host, f"iptables -w -S {chain}").stdout
    return [line for line in out.splitlines() if line.startswith("-A ")]


def wanted_filter(inventory, host) -> list[str]:
    """The filter hosts.yaml wants on host, written out here (not by dockstack.firewall): the other hosts' underlay
    addresses in address order, each let through, then everyone else dropped."""
    peers = sorted(network.peers(inventory, host), key=ipaddress.IPv4Address)
    return [*(f"-A {CHAIN} -s {p}/32 -j RETURN" for p in peers), f"-A {CHAIN} -j DROP"]


def jump(inventory) -> str:
    return f"-A INPUT -p udp -m udp --dport {inventory.network.vxlan_port} -j {CHAIN}"


@pytest.fixture(scope="module")
def deployed(inventory):
    out = run_inv("deploy-all").stdout
    assert " 0 failed" in out, out
    return inventory


@pytest.fixture
def target(deployed) -> Iterator:
    """The host the probe plants on, its filter and jump as deployed; whatever is planted goes afterwards."""
    host = deployed.hosts[-1]
    assert rules(deployed, host.name, CHAIN) == wanted_filter(deployed, host)
    assert rules(deployed, host.name, "INPUT")[:1] == [jump(deployed)]
    yield host
    port = deployed.network.vxlan_port
    ssh(deployed, host.name, f"while iptables -w -D {CHAIN} -j RETURN 2>/dev/null; do :; done; "
                             f"while iptables -w -D INPUT -p udp --dport {port} -j ACCEPT 2>/dev/null; do :; done")


def network_set_up(out: str) -> list[str]:
    """The lines of a deploy-all that say a host's network was set up again, and why."""
    return [line.strip() for line in out.splitlines() if ": container network set up (" in line]


def test_a_return_inserted_first_in_the_vxlan_filter_is_reported_and_gone_after_deploy_all(deployed, target):
    """`-j RETURN` first in the filter: every sender's VXLAN goes on through INPUT, the filter's DROP never seen."""
    ssh(deployed, target.name, f"iptables -w -I {CHAIN} 1 -j RETURN")
    assert rules(deployed, target.name, CHAIN)[0] == f"-A {CHAIN} -j RETURN"
    out = run_inv("deploy-all").stdout
    assert " 0 failed" in out, out
    assert network_set_up(out) == [f"{target.name}: container network set up (VXLAN filter: {CHAIN} rule 1 is "
                                   f"extra: -A {CHAIN} -j RETURN)"], out
    assert rules(deployed, target.name, CHAIN) == wanted_filter(deployed, target)
    assert rules(deployed, target.name, "INPUT")[:1] == [jump(deployed)]
    again = run_inv("deploy-all").stdout  # repaired: nothing left to find
    assert network_set_up(again) == [], again


def test_an_accept_ahead_of_the_jump_is_reported_and_the_jump_put_first(deployed, target):
    """An ACCEPT for the VXLAN port ahead of INPUT's jump takes every sender's VXLAN before the filter sees it. The
    ACCEPT is not dockstack's, so it stays; the jump goes ahead of it."""
    port = deployed.network.vxlan_port
    ssh(deployed, target.name, f"iptables -w -I INPUT 1 -p udp --dport {port} -j ACCEPT")
    accept = f"-A INPUT -p udp -m udp --dport {port} -j ACCEPT"
    assert rules(deployed, target.name, "INPUT")[:2] == [accept, jump(deployed)]
    out = run_inv("deploy-all").stdout
    assert " 0 failed" in out, out
    assert network_set_up(out) == [f"{target.name}: container network set up (VXLAN filter: INPUT rule 1 comes "
                                   f"before the jump and may let VXLAN past the filter: {accept})"], out
    assert rules(deployed, target.name, "INPUT")[:2] == [jump(deployed), accept]
    assert rules(deployed, target.name, CHAIN) == wanted_filter(deployed, target)
