"""What a run measured, as data: each command's Run and the rounds and Results made of them. measure.py fills
Results, cli.py saves and loads it (bench/.work/results.json), report.py reads it: kept apart from all three so the
report can be rewritten from a saved run without the code that measures."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.common import SCALE_HOSTS


@dataclass
class Run:
    """One measured command: wall time, what it printed (with when), its trace and peak RSS."""

    argv: list[str]
    seconds: float
    code: int
    lines: list[tuple[float, str]]
    trace: list[dict]
    maxrss_kb: int

    @property
    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)


@dataclass
class StackRound:
    """One round of the ten-role stack: the floor, deploy-all from empty, its no-change re-run, `inv create`."""

    floor: Run
    deploy: Run
    no_change: Run
    create: Run


@dataclass
class ScaleRound:
    """One round of one scale size: the floor and deploy-all from empty, N light containers."""

    n: int
    floor: Run
    deploy: Run


@dataclass
class RealRound:
    """One round of the real shipped stack: deploy-all from empty, its no-change re-run, the machine's memory."""

    deploy: Run
    no_change: Run  # the first re-run, straight after deploy-all from empty (its services still busy starting)
    memory_before: int = 0  # bytes the machine used before deploy-all (the lab up, its hosts empty)
    memory_peak: int = 0  # the most it used while deploy-all ran
    memory_after: int = 0  # what it used once deploy-all was done (every service up)
    no_change_again: list[float] = field(default_factory=list)  # seconds of the re-runs after the first, back to back

    def no_change_seconds(self) -> list[float]:
        """Every no-change re-run's wall seconds, the first included."""
        return [self.no_change.seconds, *self.no_change_again]


@dataclass
class FreshRun:
    """The README's main command in a fresh clone with an empty image cache (bench/fresh.py), and the token after."""

    command: str
    commit: str
    run: Run
    token_ok: bool  # `openstack token issue` through the VIP answered a token
    token_said: str  # the OS_AUTH_URL it used, or what failed


@dataclass
class Results:
    """Everything one run measured and what it ran on: what the report is written from."""

    started: str
    stack_rounds: list[StackRound] = field(default_factory=list)
    real_rounds: list[RealRound] = field(default_factory=list)
    scale_rounds: list[ScaleRound] = field(default_factory=list)
    stack_tiers: list[str] = field(default_factory=list)
    scale_tiers: list[str] = field(default_factory=list)
    stack_containers: int = 0
    dnsmasq_host: dict[str, str] = field(default_factory=dict)  # "stack"/"scale" -> host name
    floor_calls: dict[str, int] = field(default_factory=dict)  # "stack" / "scale-N" -> ssh calls of the floor
    scale_hosts: int = SCALE_HOSTS
    machine: list[str] = field(default_factory=list)
    engine: list[str] = field(default_factory=list)  # engine_fingerprint() before and after the measurements
    busy: bool = False  # the load average exceeded the number of CPUs when the run started
    restarts: list[str] = field(default_factory=list)  # why the bench lab had to be restarted between measurements
    command: str = ""
    minutes: float = 0.0
    # bench/day2.py: "rolls" (role, seconds, probes, failed, gap_mysql, gap_keystone), "recoveries" (seconds, ok)
    day2: dict[str, list[dict]] = field(default_factory=dict)
    fresh: FreshRun | None = None  # `--from-empty`: the README's main command (bench/fresh.py)

    def save(self, path: Path) -> None:
        """Everything measured (outputs and traces too), so the report can be rewritten without a new run."""
        path.write_text(json.dumps(asdict(self)) + "\n")

    @classmethod
    def load(cls, path: Path) -> Results:
        """A saved run (`--report-only`): the JSON of save(), its runs made Runs again."""
        data = json.loads(path.read_text())

        def run(d: dict) -> Run:
            return Run(d["argv"], d["seconds"], d["code"], [(t, x) for t, x in d["lines"]], d["trace"],
                       d["maxrss_kb"])

        data["stack_rounds"] = [StackRound(**{k: run(v) for k, v in r.items()}) for r in data["stack_rounds"]]
        data["real_rounds"] = [RealRound(**{k: run(v) if isinstance(v, dict) else v for k, v in r.items()})
                               for r in data.get("real_rounds", [])]
        data["scale_rounds"] = [ScaleRound(r["n"], run(r["floor"]), run(r["deploy"])) for r in data["scale_rounds"]]
        if data.get("fresh"):
            data["fresh"] = FreshRun(**{**data["fresh"], "run": run(data["fresh"]["run"])})
        return cls(**data)

