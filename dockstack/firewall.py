"""The iptables rules dockstack owns on a host, as values: what they should be (from hosts.yaml), what a host has
(`iptables -S` of the chains the facts read), and what differs, in order.

dockstack owns, in the filter table:
- the VXLAN filter, chain DOCKSTACK-VXLAN (join: vxlan): one `-s PEER/32 -j RETURN` per other host of the stack, in
  address order, then `-j DROP`, and nothing else;
- its one jump from INPUT (`-p udp -m udp --dport PORT`), ahead of every INPUT rule that could let a UDP packet to
  the VXLAN port through (accept it, or send it to a chain that may): an ACCEPT ahead of the jump would let any
  sender past the filter. Other rules ahead (another protocol, another port, a DROP, a LOG) are left alone;
- the bridge's forward ACCEPT (`-i BRIDGE -o BRIDGE -j ACCEPT`): once, first in DOCKER-USER when Docker made that
  chain, else in FORWARD, and no copy in the other.
Anything of these extra, missing or out of place is drift: host_network.sh then writes them all again in one
iptables-restore transaction (no moment without the filter). Rules of others are never removed.
"""

from __future__ import annotations

import difflib
import ipaddress
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dockstack.config import Network

VXLAN_CHAIN = "DOCKSTACK-VXLAN"  # host_network.sh and host_facts.sh name it too
FORWARD_CHAINS = ("DOCKER-USER", "FORWARD")  # where the bridge's ACCEPT goes: Docker's chain for it, else FORWARD
READ_CHAINS = (VXLAN_CHAIN, "INPUT", *FORWARD_CHAINS)  # what host_facts.sh lists, in this order
# targets that cannot let a packet past the VXLAN filter: they drop it, or note it and let INPUT go on
CANNOT_PASS = frozenset({"DROP", "REJECT", "LOG", "NFLOG"})
UDP = frozenset({"udp", "17", "all", "0"})  # -p values that include UDP

Rule = tuple[str, ...]  # a rule as `iptables -S` prints it, in words: ("-A", "INPUT", "-p", "udp", ...)


@dataclass(frozen=True)
class Chains:
    """Chains of a host's filter table, as `iptables -S CHAIN` printed them: name -> its rules in order. A chain
    that is not there has no entry (an empty chain has an empty tuple)."""

    rules: dict[str, tuple[Rule, ...]] = field(default_factory=dict)

    def has(self, chain: str) -> bool:
        return chain in self.rules

    def of(self, chain: str) -> tuple[Rule, ...]:
        return self.rules.get(chain, ())


def words(line: str) -> Rule:
    """One line of `iptables -S` in words; its quotes (a comment's) read as the shell would."""
    try:
        return tuple(shlex.split(line))
    except ValueError:  # an unbalanced quote: its words as they stand
        return tuple(line.split())


def text(rule: Rule) -> str:
    return " ".join(rule)


def parse_chains(lines: Iterable[str]) -> Chains:
    """`iptables -S CHAIN` lines of several chains: `-P CHAIN POLICY` (a built-in one) or `-N CHAIN` says the chain
    is there, each `-A CHAIN ...` is its next rule."""
    found: dict[str, list[Rule]] = {}
    for line in lines:
        rule = words(line)
        if len(rule) >= 2 and rule[0] in ("-P", "-N"):
            found.setdefault(rule[1], [])
        elif len(rule) >= 2 and rule[0] == "-A":
            found.setdefault(rule[1], []).append(rule)
    return Chains({name: tuple(rules) for name, rules in found.items()})


def peer_order(peers: Iterable[str]) -> list[str]:
    """The peers once each, in address order: the filter's order, whatever hosts.yaml's (a name, which a non-VXLAN
    join allows, after the addresses)."""
    def key(p: str) -> tuple[int, int, str]:
        try:
            return 0, int(ipaddress.IPv4Address(p)), p
        except ValueError:
            return 1, 0, p
    return sorted(set(peers), key=key)


def vxlan_filter(peers: Iterable[str]) -> tuple[Rule, ...]:
    """The filter chain's rules: the peers may send VXLAN, no one else."""
    return (*(("-A", VXLAN_CHAIN, "-s", f"{p}/32", "-j", "RETURN") for p in peer_order(peers)),
            ("-A", VXLAN_CHAIN, "-j", "DROP"))


def vxlan_jump(port: int) -> Rule:
    return ("-A", "INPUT", "-p", "udp", "-m", "udp", "--dport", str(port), "-j", VXLAN_CHAIN)


def forward_accept(chain: str, bridge: str) -> Rule:
    return ("-A", chain, "-i", bridge, "-o", bridge, "-j", "ACCEPT")


def forward_chain(found: Chains) -> str:
    """Where the bridge's ACCEPT belongs: DOCKER-USER when Docker made it (its FORWARD DROP comes after), else
    FORWARD."""
    return FORWARD_CHAINS[0] if found.has(FORWARD_CHAINS[0]) else FORWARD_CHAINS[1]


def _target(rule: Rule) -> str | None:
    for flag in ("-j", "-g"):
        if flag in rule[:-1]:
            return rule[rule.index(flag) + 1]
    return None


def _option(rule: Rule, *names: str) -> str | None:
    for i, w in enumerate(rule[:-1]):
        if w in names:
            return rule[i + 1]
    return None


def _port_in(port: int, spec: str) -> bool:
    """port is in an iptables port spec (`4789`, `4000:5000`, `:5000`, `4000:`); a name (`domain`) may be."""
    low, sep, high = spec.partition(":")
    try:
        if not sep:
            return int(spec) == port
        return (int(low) if low else 0) <= port <= (int(high) if high else 65535)
    except ValueError:
        return True


def may_pass(rule: Rule, port: int) -> bool:
    """Whether an INPUT rule could end a UDP packet's way to PORT with anything but a drop: accept it, or hand it to a
    chain that may. Read as a may: a negation (`!`) or a target not known to drop is taken as one."""
    target = _target(rule)
    if target is None or target in CANNOT_PASS:
        return False
    if "!" in rule:
        return True
    proto = _option(rule, "-p", "--protocol")
    if proto is not None and proto.lower() not in UDP:
        return False
    dport = _option(rule, "--dport", "--destination-port")
    if dport is not None and not _port_in(port, dport):
        return False
    ports = _option(rule, "--dports", "--destination-ports", "--ports")
    return ports is None or any(_port_in(port, p) for p in ports.split(","))


def _chain_drift(chain: str, want: Sequence[Rule], have: Sequence[Rule]) -> list[str]:
    """What of `have` is extra, missing or out of place against `want`, in order (rule numbers as iptables counts)."""
    extra: list[tuple[int, Rule]] = []
    missing: list[Rule] = []
    matcher = difflib.SequenceMatcher(None, list(have), list(want), autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("delete", "replace"):
            extra += [(i + 1, have[i]) for i in range(i1, i2)]
        if op in ("insert", "replace"):
            missing += want[j1:j2]
    moved = {r for _, r in extra} & set(missing)
    return [f"{chain} rule {n} out of place: {text(r)}" if r in moved else f"{chain} rule {n} is extra: {text(r)}"
            for n, r in extra] + [f"{chain} rule missing: {text(r)}" for r in missing if r not in moved]


def _jumps_to(rule: Rule, chain: str) -> bool:
    return _target(rule) == chain


def _vxlan_drift(port: int, peers: Sequence[str], found: Chains) -> list[str]:
    if not found.has(VXLAN_CHAIN):
        return ["VXLAN filter missing"]
    out = [f"VXLAN filter: {d}" for d in _chain_drift(VXLAN_CHAIN, vxlan_filter(peers), found.of(VXLAN_CHAIN))]
    rules = found.of("INPUT")
    want = vxlan_jump(port)
    first = next((i for i, r in enumerate(rules) if r == want), None)
    if first is None:
        out.append(f"VXLAN filter: INPUT's jump missing: {text(want)}")
    out += [f"VXLAN filter: INPUT rule {i + 1} is an extra jump: {text(r)}" for i, r in enumerate(rules)
            if i != first and _jumps_to(r, VXLAN_CHAIN)]
    ahead = rules[:first] if first is not None else ()
    out += [f"VXLAN filter: INPUT rule {i + 1} comes before the jump and may let VXLAN past the filter: {text(r)}"
            for i, r in enumerate(ahead) if may_pass(r, port) and not _jumps_to(r, VXLAN_CHAIN)]
    return out


def _forward_drift(bridge: str, found: Chains) -> list[str]:
    chain = forward_chain(found)
    out = []
    for c in FORWARD_CHAINS:
        ours = [i for i, r in enumerate(found.of(c)) if r == forward_accept(c, bridge)]
        if c == chain and not ours:
            out.append(f"FORWARD ACCEPT rule for the bridge missing: {text(forward_accept(c, bridge))}")
        elif c == chain and ours[0] != 0:
            out.append(f"FORWARD ACCEPT rule for the bridge is {c} rule {ours[0] + 1}, not the first")
        extra = ours[1:] if c == chain else ours
        out += [f"FORWARD ACCEPT rule for the bridge: {c} rule {i + 1} is an extra copy" for i in extra]
    return out


def drift(net: Network, peers: Sequence[str], found: Chains) -> list[str]:
    """What of the rules dockstack owns differs from what hosts.yaml wants (see the module), each finding one line
    naming the chain, the rule and what is wrong with it; [] when they are as wanted."""
    if net.join == "vxlan":
        out = _vxlan_drift(net.vxlan_port, peers, found)
    elif found.has(VXLAN_CHAIN) or any(_jumps_to(r, VXLAN_CHAIN) for r in found.of("INPUT")):
        out = [f"VXLAN filter present with join: {net.join}"]
    else:
        out = []
    return out + _forward_drift(net.bridge, found)
