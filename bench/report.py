"""The report: Results made BENCHMARKS.md's text, the issue's goals judged, and `--only-real`'s splice of a newer
real-stack section into an existing report. It measures nothing: `--report-only` rewrites the report from a saved
run with this module alone."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import LEASE_PATH_CONTAINER, LIGHT_IMAGE, STACK_HOSTS, say
from bench.parse import FRESH_PHASES, TraceCounts, fresh_phases, phases, preamble, real_phases, tier_times
from bench.results import Results, Run
from tests.memory import GIB

# goals from the issue
RATIO_LIMIT, RATIO_GOAL = 1.5, 1.0  # deploy-all from empty / floor (issue 29: back at the floor)
NO_CHANGE_GOAL = 1.5  # seconds (issue 29)
REAL_NO_CHANGE_GOAL = 3.0  # seconds: the real stack's no-change run, every container's readiness check included
RECOVERY_GOAL = 90.0  # seconds: one deploy-all after every Galera node was stopped (each kind of full stop)
PER_CONTAINER_GROWTH_GOAL = 1.0  # time per container at the largest size / at the smallest (issue 29)
BYTES_GROWTH_GOAL = 1.05  # bytes per container must not grow with N (5% for longer names)


def spread(values: Sequence[float], fmt: str = ".2f") -> str:
    """median (min-max)"""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


@dataclass
class Goal:
    """One of the issue's goals, what was measured for it and whether it was met (the report's last table)."""

    text: str
    measured: str
    met: bool


def tier_table(names: list[str], floors: list[Run], deploys: list[Run]) -> list[str]:
    """Markdown rows: per tier, the floor beside deploy-all and deploy-all's phases."""
    floor_tiers = [tier_times(r, "tier ", "", done=True) for r in floors]
    dep_tiers = [tier_times(r, "[", "deploy-all:", done=False) for r in deploys]
    dep_phases = [phases(r) for r in deploys]

    def med(rows: list[list[float]], i: int) -> float:
        return statistics.median(x[i] for x in rows if i < len(x))

    out = ["| tier | roles | floor | deploy-all | difference | actions | address book | pushes |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
           f"| before the first tier | facts, network check | - | "
           f"{statistics.median(preamble(r) for r in deploys):.2f} | | | | |"]
    for i, roles in enumerate(names):
        f, d = med(floor_tiers, i), med(dep_tiers, i)
        ph = [[p[i][k] for p in dep_phases if i < len(p)] for k in range(3)]
        out.append(f"| {i + 1} | {roles} | {f:.2f} | {d:.2f} | {d - f:+.2f} | "
                   + " | ".join(f"{statistics.median(x):.2f}" for x in ph) + " |")
    return out


def report(res: Results) -> tuple[str, list[Goal]]:
    """BENCHMARKS.md's whole text, and the goals it judged."""
    rounds, scale = res.stack_rounds, res.scale_rounds
    goals: list[Goal] = []
    out = ["# Benchmarks\n",
           f"Measured by `bench/run.py` on {res.started}, in {res.minutes:.1f} minutes. Not a test: numbers vary "
           "by machine and load; the goals are the issue's.\n",
           "## Machine\n", *[f"- {x}" for x in res.machine], "",
           *(["**The machine was busy with other work** (load average above the number of CPUs): the rounds "
              "vary more than they would on an idle machine; the medians and the alternating order soften it.\n"]
             if res.busy else []),
           *([f"The bench lab was restarted {len(res.restarts)} time(s) between measurements, because emptying "
              f"the hosts hung: {'; '.join(res.restarts)}.\n"] if res.restarts else []),
           *([f"**The engine's code changed during the run** (fingerprint {' -> '.join(res.engine)}): these numbers "
              "mix two versions.\n"] if len(set(res.engine)) > 1 else []),
           "## Reproduce\n", "As root, in a clone of this repository:\n", "```sh",
           "bash scripts/setup.sh        # Debian packages and .venv (as for the lab)",
           ".venv/bin/inv images.build   # the stack's images (cached in /var/cache/dockstack)",
           res.command, "```\n",
           "It brings up a lab of its own (bridge `dsbench0`, prefix `dsb`, 10.97.0.0/24, "
           "`/var/lib/dockstack-bench`; files in `bench/.work/`), so it can run beside the default lab, and "
           "tears it down at the end. Floor and dockstack alternate which goes first from round to round. "
           "Each measurement starts from empty hosts (no containers, no `/var/lib/dockstack/*`); the container "
           "network was set up once before. Medians, with (min-max) over the rounds; dockstack / floor is the "
           "median of each round's own ratio.\n",
           "The floor (`bench/floor.sh`) does only the unavoidable work, with the same images, hosts, docker "
           "options and dnsmasq configuration (no-ping): tiers in sequence, a tier's containers in parallel "
           "(at most 8 at once per host, like dockstack); per container one `ssh` call (`docker run --network "
           "none`, a veth pair onto the bridge, static IP or a lease by the host's `udhcpc` entered into the "
           "container's network namespace with dockstack's hook, as dockstack takes it, the role's check with "
           "`docker exec`), per tier one `ssh` "
           "call to the dnsmasq host (append the DNS entries, SIGHUP); SSH connections reused (ControlMaster).\n"]

    # part 1
    ratios = [r.deploy.seconds / r.floor.seconds for r in rounds]
    floor_s = [r.floor.seconds for r in rounds]
    dep_s = [r.deploy.seconds for r in rounds]
    traces = [TraceCounts.of(r.deploy.trace) for r in rounds]
    create_traces = [TraceCounts.of(r.create.trace) for r in rounds]
    nc_traces = [TraceCounts.of(r.no_change.trace) for r in rounds]
    n = res.stack_containers
    fcalls = res.floor_calls.get("stack", 0)
    conn = traces[0].connects
    out += [f"## The ten-role engine stack (tests/e2e/stacks/engine.yaml: {n} containers, {STACK_HOSTS} hosts, "
            f"rounds: {len(rounds)})\n",
            "| measure | floor | dockstack | dockstack / floor |", "| --- | ---: | ---: | ---: |",
            f"| deploy from empty hosts, wall s | {spread(floor_s)} | {spread(dep_s)} | {spread(ratios)} |",
            f"| remote round trips | {fcalls} ssh calls | {spread([t.round_trips for t in traces], '.0f')} | |",
            f"| round trips per created container | {fcalls / n:.1f} | "
            f"{spread([t.round_trips / n for t in traces], '.1f')} | |",
            f"| SSH connections per host | 1 (ControlMaster) | "
            f"{', '.join(f'{h}: {c}' for h, c in sorted(conn.items()))} | |",
            f"| peak RSS of `inv`, MB | - | {spread([r.deploy.maxrss_kb / 1024 for r in rounds], '.0f')} | |",
            f"| deploy-all again, nothing to change, wall s | - | {spread([r.no_change.seconds for r in rounds])} | |",
            f"| ... its round trips / SSH connections | - | {nc_traces[0].round_trips} / "
            f"{sum(nc_traces[0].connects.values())} | |",
            f"| `inv create --name={LEASE_PATH_CONTAINER}` (lease path), wall s | - | "
            f"{spread([r.create.seconds for r in rounds])} | |",
            f"| ... its round trips / SSH connections | - | {create_traces[0].round_trips} / "
            f"{sum(create_traces[0].connects.values())} | |", ""]
    out += ["Where the time goes, per tier (seconds, medians). dockstack's tier is its containers' actions, "
            "then one address-book transaction on the dnsmasq host, then the puppet push; the floor's "
            "is its containers' ssh calls, then one ssh call to the dnsmasq host.\n",
            *tier_table(res.stack_tiers, [r.floor for r in rounds], [r.deploy for r in rounds]), ""]
    ratio = statistics.median(ratios)
    goals.append(Goal(f"deploy-all from empty ≤ {RATIO_LIMIT}× the floor", f"{ratio:.3f}×", ratio <= RATIO_LIMIT))
    goals.append(Goal(f"deploy-all from empty ≤ {RATIO_GOAL}× the floor (goal)", f"{ratio:.3f}×", ratio <= RATIO_GOAL))
    nc = statistics.median(r.no_change.seconds for r in rounds)
    goals.append(Goal(f"no-change re-run < {NO_CHANGE_GOAL:g} s", f"{nc:.2f} s", nc < NO_CHANGE_GOAL))

    # part 2
    sizes = sorted({s.n for s in scale})
    scale_rounds = len(scale) // max(1, len(sizes))
    out += [f"## Scale: light containers on {res.scale_hosts} hosts (rounds per size: {scale_rounds})\n",
            f"N light containers (`{LIGHT_IMAGE}`, no check) in three roles of one tier each after dnsmasq, "
            f"round-robin over the hosts; dnsmasq (on {res.dnsmasq_host.get('scale')}) is not counted in N. "
            "Bytes: what dockstack sends to the dnsmasq host (every round trip, including the actions of "
            "the containers that host runs), and the address-book transactions alone.\n",
            "| N | floor s | deploy-all s | dockstack / floor | floor s per container | deploy-all s per container "
            "| peak RSS of `inv`, MB | round trips per container | bytes to the dnsmasq host per container "
            "| address-book bytes per container |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    per: dict[int, dict[str, float]] = {}
    for size in sizes:
        rs = [s for s in scale if s.n == size]
        tc = [TraceCounts.of(s.deploy.trace) for s in rs]
        dh = res.dnsmasq_host.get("scale", "host1")
        per[size] = {"tpc": statistics.median(s.deploy.seconds / size for s in rs),
                     "bpc": statistics.median(t.sent_to.get(dh, 0) / size for t in tc),
                     "txn": statistics.median(t.txn_sent / size for t in tc)}
        out.append(f"| {size} | {spread([s.floor.seconds for s in rs])} | {spread([s.deploy.seconds for s in rs])} "
                   f"| {spread([s.deploy.seconds / s.floor.seconds for s in rs])} "
                   f"| {statistics.median(s.floor.seconds / size for s in rs):.3f} | {per[size]['tpc']:.3f} "
                   f"| {max(s.deploy.maxrss_kb for s in rs) / 1024:.0f} "
                   f"| {statistics.median(t.round_trips / size for t in tc):.2f} | {per[size]['bpc']:.0f} "
                   f"| {per[size]['txn']:.0f} |")
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        t_ratio = per[hi]["tpc"] / per[lo]["tpc"]
        b_ratio = per[hi]["bpc"] / per[lo]["bpc"]
        x_ratio = per[hi]["txn"] / per[lo]["txn"]
        out += ["", f"- time per container, N={hi} / N={lo}: **{t_ratio:.2f}**",
                f"- bytes to the dnsmasq host per container, N={hi} / N={lo}: **{b_ratio:.2f}** "
                f"(address-book transactions alone: {x_ratio:.2f})"]
        big = [s for s in scale if s.n == hi]
        out += ["", f"Per tier at N={hi} (seconds, medians):\n",
                *tier_table(res.scale_tiers, [s.floor for s in big], [s.deploy for s in big])]
        goals.append(Goal(f"time per container at {hi} within {PER_CONTAINER_GROWTH_GOAL}× of that at {lo}",
                          f"{t_ratio:.2f}×", t_ratio <= PER_CONTAINER_GROWTH_GOAL))
        goals.append(Goal(f"bytes per container not growing with N (N={hi} / N={lo} ≤ {BYTES_GROWTH_GOAL})",
                          f"{b_ratio:.2f}×", b_ratio <= BYTES_GROWTH_GOAL))
    out += real_report(res, goals)
    out += ["", "## Goals\n", "| goal | measured | |", "| --- | ---: | --- |"]
    out += [f"| {g.text} | {g.measured} | {'met' if g.met else '**missed**'} |" for g in goals]
    out.append("")
    return "\n".join(out), goals


def real_report(res: Results, goals: list[Goal]) -> list[str]:
    """Part 2 of the report: the real stack from empty, split into addressing, Puppet and readiness."""
    rounds = res.real_rounds
    if not rounds:
        return []
    phases = [real_phases(r.deploy) for r in rounds]
    nc = [s for r in rounds for s in r.no_change_seconds()]
    n = len([line for _, line in rounds[0].deploy.lines if re.match(r"^  [a-z0-9-]+: done$", line)])
    out = ["", f"## The real stack (the shipped containers.yaml: {n} containers on {STACK_HOSTS} hosts, rounds: "
           f"{len(rounds)})\n",
           "The Puppet server, a Puppet agent run in every container of a role with classes, the three-node "
           "Galera cluster bootstrapped from empty, haproxy + keepalived holding the VIP. Each tier counts its "
           "slowest container, split by the durations its action script reports: addressing (docker run, eth0, "
           "the address), its Puppet agent run, its readiness check (the service starting).\n",
           "| measure | seconds |", "| --- | ---: |",
           f"| deploy-all from empty hosts, wall | {spread([r.deploy.seconds for r in rounds], '.1f')} |",
           f"| ... before the first tier (facts, network) | {spread([p.before for p in phases], '.1f')} |",
           f"| ... addressing | {spread([p.addressing for p in phases], '.1f')} |",
           f"| ... Puppet agent runs | {spread([p.puppet for p in phases], '.1f')} |",
           f"| ... service readiness | {spread([p.readiness for p in phases], '.1f')} |",
           f"| ...... of which the Puppet server's start | {spread([p.server_start for p in phases], '.1f')} |",
           f"| ... address-book transactions, pushes, SSH | {spread([p.other for p in phases], '.1f')} |",
           f"| deploy-all again, nothing to change (no agent runs; every container's check runs; {len(nc)} runs, "
           f"back to back) | {spread(nc)} |",
           f"| ... the first of them, straight after deploy-all from empty | "
           f"{spread([r.no_change.seconds for r in rounds])} |",
           f"| ... its round trips / SSH connections | {TraceCounts.of(rounds[0].no_change.trace).round_trips} / "
           f"{sum(TraceCounts.of(rounds[0].no_change.trace).connects.values())} |",
           f"| memory the machine used before deploy-all (lab up, hosts empty), GiB | "
           f"{spread([r.memory_before / GIB for r in rounds], '.1f')} |",
           f"| ... at its peak while deploy-all ran, GiB | {spread([r.memory_peak / GIB for r in rounds], '.1f')} |",
           f"| ... once every service was up, GiB | {spread([r.memory_after / GIB for r in rounds], '.1f')} |"]
    goals.append(Goal(f"real stack: no-change re-run with health checks < {REAL_NO_CHANGE_GOAL:g} s (no Puppet run)",
                      f"{statistics.median(nc):.2f} s", statistics.median(nc) < REAL_NO_CHANGE_GOAL))
    return out + day2_report(res, goals)


def day2_report(res: Results, goals: list[Goal]) -> list[str]:
    """Part 3: rolling changes probed through the VIP, and the Galera full stops (bench/day2.py)."""
    rolls, stops = res.day2.get("rolls", []), res.day2.get("recoveries", [])
    if not rolls and not stops:
        return []
    out = ["", "### Day 2 on the real stack: rolling changes and full stops\n",
           "Each rolling change adds an env value to every container of the role (then takes it away: two rolls "
           "per role), while a prober in the openstack container opens a new MySQL connection and GETs keystone "
           "through the VIP every 0.2 s. The longest gap is the longest time between two probes that passed.\n",
           "| rolling change | deploy-all, s | probes | failed | longest gap MySQL, s | longest gap keystone, s |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    out += [f"| {r['role']} | {r['seconds']:.1f} | {r['probes']} | {len(r['failed'])} | {r['gap_mysql']:.2f} | "
            f"{r['gap_keystone']:.2f} |" for r in rolls]
    if rolls:
        bad = sum(len(r["failed"]) for r in rolls)
        gap = max(max(r["gap_mysql"], r["gap_keystone"]) for r in rolls)
        goals.append(Goal("rolling changes: no failed probe through the VIP (every 0.2 s)",
                          f"{bad} failed; longest gap {gap:.2f} s", bad == 0))
    if stops:
        kinds = list(dict.fromkeys(x.get("kind", "docker kill") for x in stops))  # older results: docker kill only
        n = max(sum(x.get("kind", "docker kill") == k for x in stops) for k in kinds)
        out += ["", "Full stops: all three Galera nodes stopped one way (docker kill; mariadbd killed with -9 or "
                "stopped with SIGSTOP inside running containers; docker pause), then one deploy-all, each kind "
                f"{n} times in a row; each must bring back three Synced nodes holding the last committed row. "
                "Seconds of each deploy-all (**bold**: not healed).\n",
                "| full stop | " + " | ".join(str(i) for i in range(1, n + 1)) + " | slowest, s |",
                "| --- |" + " ---: |" * (n + 1)]
        for k in kinds:
            mine = [x for x in stops if x.get("kind", "docker kill") == k]
            out.append(f"| {k} | " + " | ".join(f"{x['seconds']:.1f}" if x["ok"] else f"**{x['seconds']:.1f}**"
                                                for x in mine) + " |" * (n - len(mine))
                       + f" | {max(x['seconds'] for x in mine):.1f} |")
        secs = [x["seconds"] for x in stops]
        goals.append(Goal(f"Galera full stops of each kind ({', '.join(kinds)}): each healed by one deploy-all in "
                          f"< {RECOVERY_GOAL:g} s",
                          f"{sum(x['ok'] for x in stops)} of {len(stops)} healed, slowest {max(secs):.1f} s",
                          all(x["ok"] for x in stops) and max(secs) < RECOVERY_GOAL))
    return out


REAL_HEADING = "## The real stack"
FRESH_HEADING = "## The README's main command"
GOALS_HEADING = "## Goals"
REAL_GOAL_ROW = "| real stack:"
FRESH_GOAL_ROW = "| README's main command"
FRESH_GOAL_MINUTES = 10.0  # the issue: a fresh clone, an empty image cache, no lab, to a token through the VIP


def section_at(lines: list[str], heading: str) -> tuple[int, int] | None:
    """Where the section whose heading starts with `heading` is in a report's lines: from its heading up to the next
    `## ` heading (or the end); None when there is none."""
    at = next((i for i, x in enumerate(lines) if x.startswith(heading)), None)
    if at is None:
        return None
    return at, next((i for i in range(at + 1, len(lines)) if lines[i].startswith("## ")), len(lines))


def splice_section(report_text: str, heading: str, section: list[str], goal_rows: list[str], note: str,
                   goal_prefix: str) -> str:
    """The report with the section whose heading starts with `heading` (up to the next `## ` heading) and its goal
    rows (those starting with goal_prefix, and any the new rows judge again) replaced by a newer measurement, the
    other sections kept as their own runs measured them; a section not there yet goes before the goals. `note`
    says when and how the new one was made."""
    lines = report_text.rstrip("\n").split("\n")
    goals_at = lines.index(GOALS_HEADING) if GOALS_HEADING in lines else len(lines)
    at, end = section_at(lines, heading) or (goals_at, goals_at)
    first, *body = section[next(i for i, x in enumerate(section) if x):]  # its blank lines end its tables
    head, tail = lines[:at], lines[end:goals_at]
    while head and not head[-1].strip():
        head.pop()
    while tail and not tail[-1].strip():
        tail.pop()
    replaced = {row.split(" | ")[0] for row in goal_rows}  # the goals this measurement judges again
    goals = [x for x in lines[goals_at:] if not x.startswith(goal_prefix) and x.split(" | ")[0] not in replaced]
    if not goals:
        goals = [f"{GOALS_HEADING}\n", "| goal | measured | |", "| --- | ---: | --- |"]
    middle = ["", *tail] if tail else []
    return "\n".join([*head, "", first, *([note] if note else []), *body, *middle, "", *goals, *goal_rows]) + "\n"


def keep_section(old_text: str, new_text: str, heading: str, goal_prefix: str) -> str:
    """new_text with old_text's section under `heading` and its goal rows, when new_text has none (a full run does
    not measure the README's main command: its last measurement stays)."""
    old, new = old_text.rstrip("\n").split("\n"), new_text.rstrip("\n").split("\n")
    where = section_at(old, heading)
    if where is None or section_at(new, heading) is not None:
        return new_text
    at, end = where
    rows = [x for x in old if x.startswith(goal_prefix)]
    return splice_section(new_text, heading, old[at:end], rows, "", goal_prefix)


def splice_real(report_text: str, section: list[str], goal_rows: list[str], note: str) -> str:
    """splice_section for the real stack's section (`--only-real`)."""
    return splice_section(report_text, REAL_HEADING, section, goal_rows, note, REAL_GOAL_ROW)


def _write_section(res: Results, output: Path, section: list[str], goals: list[Goal], heading: str,
                   goal_prefix: str) -> int:
    """One section of the existing report replaced by res's, the rest kept; its goals on stdout."""
    note = (f"Measured by `{res.command}` on {res.started}, in {res.minutes:.1f} minutes ({'; '.join(res.machine)})"
            f"{': the machine was busy with other work' if res.busy else ''}; the other sections come from the "
            "runs their own notes describe.\n")
    rows = [f"| {g.text} | {g.measured} | {'met' if g.met else '**missed**'} |" for g in goals]
    text = output.read_text() if output.exists() else "# Benchmarks\n"
    output.write_text(splice_section(text, heading, section, rows, note, goal_prefix))
    say(f"wrote the section {heading[3:]!r} of {output}")
    if len(set(res.engine)) > 1:
        say(f"WARNING: the engine's code changed during the run ({' -> '.join(res.engine)}): measure again")
    for g in goals:
        say(f"{'met' if g.met else 'MISSED'}: {g.text}: {g.measured}")
    return 0


def write_real_only(res: Results, output: Path) -> int:
    """`--only-real`: the real-stack section of the existing report replaced, the rest kept."""
    goals: list[Goal] = []
    section = real_report(res, goals)
    return _write_section(res, output, section, goals, REAL_HEADING, REAL_GOAL_ROW)


def fresh_report(res: Results, goals: list[Goal]) -> list[str]:
    """The README's main command from an empty image cache: its phases, the bytes each host was sent, the token."""
    f = res.fresh
    if f is None:
        return []
    ph = fresh_phases(f.run.lines, f.run.seconds)
    hosts = sorted({m.group(1) for _, line in f.run.lines if (m := re.match(r"^(host\d+): ", line))})
    minutes = f.run.seconds / 60
    installed = (f"setup installed the Debian packages {ph.setup_installed}" if ph.setup_installed else
                 "the Debian packages setup.sh installs were already installed (setup installed none), as the "
                 "issue asks; the virtualenv was made new, from PyPI")
    out = ["", f"{FRESH_HEADING} from an empty image cache\n",
           f"`{f.command}`, in a fresh clone of {f.commit}, with an empty image cache (`DOCKSTACK_CACHE` an empty "
           f"folder: every Debian package downloaded, every image built) and no lab (its state purged). "
           f"{installed[0].upper()}{installed[1:]}. The phases are split at the lines that end them.\n",
           "| phase | seconds |", "| --- | ---: |"]
    labels = {"setup": "setup (`scripts/setup.sh`)", "lab.up": "`lab.up` (3 hosts)",
              "build": "build: the images, from Debian packages (a host is sent each image once built)",
              "ship": "ship: what is left to send after the last build (the layers each host lacks, over SSH)",
              "deploy-all": "`deploy-all` from empty hosts", "ipam.show": "`ipam.show`"}
    out += [f"| {labels[p]} | {ph.seconds[p]:.1f} |" for p in FRESH_PHASES]
    out += [f"| **the whole command** | **{f.run.seconds:.1f}** ({minutes:.1f} min) |", "",
            "| host | sent by images.sync (compressed layers) |", "| --- | ---: |"]
    out += [f"| {h} | {ph.sent.get(h, 'nothing')} |" for h in hosts]
    out += ["", f"Then `openstack token issue` in the openstack container, through the VIP ({f.token_said}): "
            f"{'a token' if f.token_ok else '**failed**'}."]
    goals.append(Goal(f"README's main command from an empty image cache, no lab: ≤ {FRESH_GOAL_MINUTES:g} min, "
                      "then a token through the VIP", f"{minutes:.1f} min, token {'ok' if f.token_ok else 'failed'}",
                      minutes <= FRESH_GOAL_MINUTES and f.token_ok))
    return out


def write_fresh_only(res: Results, output: Path) -> int:
    """`--from-empty`: the README's main command's section of the existing report replaced, the rest kept."""
    goals: list[Goal] = []
    section = fresh_report(res, goals)
    return _write_section(res, output, section, goals, FRESH_HEADING, FRESH_GOAL_ROW)


def write_report(res: Results, output: Path) -> int:
    """BENCHMARKS.md, and one line per goal on stdout (MISSED when missed); always 0: not a test."""
    text, goals = report(res)
    if output.exists():  # the sections this run did not measure keep their last measurement
        old = output.read_text()
        text = keep_section(old, text, FRESH_HEADING, FRESH_GOAL_ROW)
        text = keep_section(old, text, REAL_HEADING, REAL_GOAL_ROW)
    output.write_text(text)
    say(f"wrote {output}")
    if len(set(res.engine)) > 1:
        say(f"WARNING: the engine's code changed during the run ({' -> '.join(res.engine)}): measure again")
    for g in goals:
        say(f"{'met' if g.met else 'MISSED'}: {g.text}: {g.measured}")
    return 0


