"""Galera: which node starts the cluster, as a pure decision over facts, and the one remote script that asks a
stopped node's data how far it got (`mariadbd --wsrep-recover`) when its grastate.dat does not say.

Each galera container's data lives on its host (the definition's DATA, mounted from its service folder); the facts
round trip reads every node's grastate.dat (uuid, seqno, safe_to_bootstrap). A new cluster is started by exactly one
node, the one with the most advanced state, and only when no node runs and every node's host could be read: a
second cluster beside a running one would split the data for good.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockstack.scripts import script

NEW_CLUSTER, JOIN = "new-cluster", "join"  # first word of the start file the container's supervisor reads
EMPTY_UUID = "00000000-0000-0000-0000-000000000000"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RECOVERED_RE = re.compile(r"WSREP: Recovered position:? *([0-9a-f-]{36}):(-?\d+)")


@dataclass(frozen=True)
class GraState:
    """A node's grastate.dat: the cluster it belongs to, the last transaction it committed (-1: not known, e.g. it
    was killed or is running) and whether Galera thinks it may start a cluster."""

    uuid: str
    seqno: int
    safe_to_bootstrap: bool

    @property
    def has_data(self) -> bool:
        return self.uuid != EMPTY_UUID


def parse_grastate(text: str) -> GraState | None:
    """grastate.dat's `key: value` lines; None when it names no cluster (a node that never joined one)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    uuid, seqno = fields.get("uuid", ""), fields.get("seqno", "")
    if not UUID_RE.fullmatch(uuid) or not re.fullmatch(r"-?\d+", seqno):
        return None
    return GraState(uuid, int(seqno), fields.get("safe_to_bootstrap") == "1")


def parse_recovered(text: str) -> tuple[str, int] | None:
    """The (uuid, seqno) `mariadbd --wsrep-recover` logs; the last one when it logs several."""
    found = RECOVERED_RE.findall(text)
    return (found[-1][0], int(found[-1][1])) if found else None


@dataclass(frozen=True)
class Node:
    """One configured galera container as the facts show it."""

    name: str
    host: str
    readable: bool  # its host's facts could be read (else it may be running there)
    running: bool
    state: GraState | None  # its grastate.dat (None: no data yet)
    recovered: int | None = None  # seqno from --wsrep-recover, when grastate.dat says -1
    unreadable: str | None = None  # why its grastate.dat was not read (not a regular file: its container writes there)

    @property
    def seqno(self) -> int | None:
        if self.state is None or not self.state.has_data:
            return None
        return self.recovered if self.state.seqno < 0 and self.recovered is not None else self.state.seqno


@dataclass(frozen=True)
class Decision:
    """Which node starts a new cluster (None: all join), why, which nodes' seqno must be recovered first, and
    which nodes' state could not be read (then none is chosen, and none may start)."""

    bootstrap: str | None
    why: str
    recover: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()

    def start_line(self, name: str) -> str:
        """The start file's line for a node: `new-cluster WHY` for the chosen one, `join` for the others."""
        return f"{NEW_CLUSTER} {self.why}" if name == self.bootstrap else JOIN


def decide(nodes: list[Node]) -> Decision:
    """Which node (if any) starts the cluster, in config order; pure, so every branch is a unit test."""
    running = [n.name for n in nodes if n.running]
    if running:
        return Decision(None, f"{', '.join(running)} running: the others join its cluster")
    unread = [n for n in nodes if not n.readable]
    if unread:
        return Decision(None, f"{', '.join(n.host for n in unread)} could not be read, so "
                        f"{', '.join(n.name for n in unread)} may be running there: no new cluster is started")
    unreadable = [n for n in nodes if n.unreadable]
    if unreadable:  # its data may be the most advanced: choosing without it could lose that data for good
        return Decision(None, "; ".join(f"{n.name}'s state on {n.host} cannot be read: {n.unreadable}"
                                        for n in unreadable) + ", so no node can be chosen to start the cluster",
                        unreadable=tuple(n.name for n in unreadable))
    with_data = [n for n in nodes if n.state is not None and n.state.has_data]
    if not with_data:
        return Decision(nodes[0].name, f"no node has data yet: {nodes[0].name} (first in config order) starts a "
                        "new cluster") if nodes else Decision(None, "no galera node")
    unknown = tuple(n.name for n in with_data if n.seqno is None or n.seqno < 0)
    if unknown:
        return Decision(None, f"the seqno of {', '.join(unknown)} is unknown (-1): recover it first", unknown)
    uuids = {n.state.uuid for n in with_data if n.state}
    order = {n.name: i for i, n in enumerate(nodes)}
    best = max(with_data, key=lambda n: (n.seqno, n.state.safe_to_bootstrap if n.state else False,
                                         -order[n.name]))

    def seen(n: Node) -> str:
        how = " recovered by --wsrep-recover" if n.recovered is not None and n.state and n.state.seqno < 0 else ""
        return f"{n.name} {n.seqno}{how}"
    others = [seen(n) for n in with_data if n.name != best.name]
    ties = [n.name for n in with_data if n.seqno == best.seqno and n.name != best.name]
    why = f"{best.name} has the most advanced state: seqno {seen(best).partition(' ')[2]}" + (
        f" (others: {', '.join(others)})" if others else "")
    if ties:
        why += (f"; tied with {', '.join(ties)}: " + ("it is the one Galera marked safe_to_bootstrap"
                if best.state and best.state.safe_to_bootstrap else "first in config order"))
    empty = [n.name for n in nodes if n not in with_data]
    if empty:
        why += f"; {', '.join(empty)} without data join by state transfer"
    if len(uuids) > 1:
        why += f"; the nodes' data belong to {len(uuids)} different clusters: those not of {best.name}'s are replaced"
    return Decision(best.name, why)


# One stopped node's last committed seqno, from its data (no cluster, no network): `mariadbd --wsrep-recover` in a
# throw-away container of the node's image on the node's data folder. Prints MariaDB's `WSREP: Recovered position`.
# The text: dockstack/scripts/galera_recover.sh.
RECOVER_SCRIPT = script("galera_recover.sh")


def recover_argv(image: str, data: str, datadir: str) -> list[str]:
    return ["sh", "-c", RECOVER_SCRIPT, "sh", image, data, datadir]
