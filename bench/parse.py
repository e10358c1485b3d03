"""What a command's output and trace say, read after the fact: round trips and bytes from DOCKSTACK_TRACE, seconds
per tier and per phase from the progress lines deploy-all and the floor print (with when). Pure functions of a Run:
measure.py uses them for its progress lines, report.py for its tables."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from bench.common import BenchError
from bench.results import Run


@dataclass
class TraceCounts:
    """What DOCKSTACK_TRACE says about one command."""

    round_trips: int
    connects: dict[str, int]
    sent_to: dict[str, int]
    txn_sent: int

    @classmethod
    def of(cls, events: list[dict]) -> TraceCounts:
        steps = [e for e in events if "step" in e]
        sent: Counter[str] = Counter()
        for e in steps:
            sent[e["host"]] += e.get("sent", 0)
        return cls(len(steps), dict(Counter(e["host"] for e in events if e.get("connect"))), dict(sent),
                   sum(e.get("sent", 0) for e in steps if "address book transaction" in e["step"]))


def tier_times(run: Run, start_prefix: str, end_prefix: str, done: bool) -> list[float]:
    """Seconds per tier from the command's own progress lines (tier starts, or `tier N done` lines)."""
    marks = [t for t, line in run.lines if line.startswith(start_prefix)]
    if done:  # floor.sh: a line when a tier is done
        return [b - a for a, b in zip([0.0, *marks], marks)]
    end = next((t for t, line in run.lines if line.startswith(end_prefix)), run.seconds)
    return [b - a for a, b in zip(marks, [*marks[1:], end])]


def preamble(run: Run) -> float:
    """deploy-all: seconds before the first tier starts (interpreter, facts, network)."""
    return next((t for t, line in run.lines if line.startswith("[1/")), 0.0)


def phases(run: Run) -> list[tuple[float, float, float]]:
    """deploy-all, per tier: (container actions, address-book commit, puppet pushes) in seconds.

    From its progress lines: the tier's header, its containers' last `done`, `address book:`, the next header."""
    out = []
    start = actions_end = commit_end = None
    for t, line in [*run.lines, (run.seconds, "[end")]:
        if line.startswith("[") or line.startswith("deploy-all:"):
            if start is not None:
                a_end = actions_end or start
                c_end = commit_end or a_end
                out.append((a_end - start, c_end - a_end, t - c_end))
            if line.startswith("deploy-all:"):
                break
            start, actions_end, commit_end = t, None, None
        elif start is not None and commit_end is None:
            if line.startswith("  address book:"):
                commit_end = t
            elif line.endswith(": done") or ": FAILED" in line:
                actions_end = t
    return out


def floor_calls(run: Run) -> int:
    """The ssh calls the floor made, from its last line (`floor: C containers, S ssh calls`)."""
    last = next((line for _, line in reversed(run.lines) if line.startswith("floor:")), "")
    words = last.split()
    return int(words[words.index("ssh") - 1]) if "ssh" in words else 0


@dataclass(frozen=True)
class RealPhases:
    """deploy-all of the real stack, in seconds, each tier counted by its slowest container, split by the steps
    its action reports (`took` events in the trace: addressing, the Puppet agent run, the readiness check)."""

    before: float  # facts, network: before the first tier
    addressing: float  # docker run, eth0, the address (static or DHCP)
    puppet: float  # Puppet agent runs
    readiness: float  # readiness checks passing (the services starting)
    server_start: float  # of readiness: the Puppet server's start, up to its status API answering
    other: float  # the rest: the tiers' address-book transactions and pushes, SSH, the summary


def real_phases(run: Run) -> RealPhases:
    """From deploy-all's timestamped lines (tier headers `[i/n]`, per container `NAME: done`) and its trace
    (per container `took`: addressing, agent, check)."""
    before = next((t for t, line in run.lines if line.startswith("[1/")), 0.0)
    took = {e["container"]: e["took"] for e in run.trace if "took" in e}
    addressing = puppet = readiness = server = 0.0
    tier: dict[str, float] = {}  # container -> seconds from the tier's start to its `done`
    start = 0.0

    def close() -> None:
        nonlocal addressing, puppet, readiness, server
        if tier:
            slowest = max(tier, key=lambda n: tier[n])
            steps = took.get(slowest, {})
            addressing += steps.get("addressing", 0.0)
            puppet += steps.get("agent", 0.0)
            readiness += steps.get("check", 0.0)
            if "puppet" in tier:
                server = took.get("puppet", {}).get("check", 0.0)
        tier.clear()

    for t, line in run.lines:
        if re.match(r"^\[\d+/\d+\] ", line):
            close()
            start = t
            continue
        done = re.match(r"^  ([a-z0-9][a-z0-9-]*): done$", line)
        if done:
            tier[done.group(1)] = t - start
    close()
    return RealPhases(before, addressing, puppet, readiness, server,
                      run.seconds - before - addressing - puppet - readiness)


# the README's main command from empty (bench/fresh.py), split at the lines that end each phase
FRESH_PHASES = ("setup", "lab.up", "build", "ship", "deploy-all", "ipam.show")


@dataclass
class FreshPhases:
    """Seconds of each phase of the main command, in FRESH_PHASES order, and the bytes each host was sent."""

    seconds: dict[str, float]
    sent: dict[str, str]  # host -> what images.sync said it sent ("1.1 GiB")
    setup_installed: str  # the Debian packages setup.sh installed, "" when none were missing


def fresh_phases(lines: list[tuple[float, str]], total: float) -> FreshPhases:
    """Split the command's timestamped lines at the lines that end each phase: setup's `setup: ready`, `lab.up:`,
    the last image built (`...: built ...`; a host is sent each image as soon as it is built, so shipping overlaps
    the builds: ship is what is left after the last build), `images.sync:`, `deploy-all:`; ipam.show is the rest.
    A phase whose end is missing raises: the output is not the command's."""
    ends: dict[str, float] = {}
    sent: dict[str, str] = {}
    installed = ""
    for t, line in lines:
        if line.startswith("setup: installing Debian packages: ") and "setup" not in ends:
            installed = line.removeprefix("setup: installing Debian packages: ")
        if "setup" not in ends:
            if line.startswith("setup: ready"):
                ends["setup"] = t
        elif "lab.up" not in ends:
            if line.startswith("lab.up: "):
                ends["lab.up"] = ends["build"] = t
        elif "ship" not in ends:
            if re.match(r"^\S+: (root layer|build): built ", line):
                ends["build"] = t
            loaded = re.match(r"^([a-z0-9][a-z0-9-]*): \d+ image\(s\) loaded, (.+) sent$", line)
            if loaded:
                sent[loaded.group(1)] = loaded.group(2)
            if line.startswith("images.sync: "):
                ends["ship"] = t
        elif "deploy-all" not in ends and line.startswith("deploy-all: "):
            ends["deploy-all"] = t
    missing = [p for p in FRESH_PHASES[:-1] if p not in ends]
    if missing:
        raise BenchError(f"the main command's output has no end of {', '.join(missing)}: is it the README's?")
    ends["ipam.show"] = total
    seconds, start = {}, 0.0
    for p in FRESH_PHASES:
        seconds[p], start = ends[p] - start, ends[p]
    return FreshPhases(seconds, sent, installed)
