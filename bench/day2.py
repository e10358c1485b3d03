"""Part 3, day-2 operations on the real stack (issue 17), measured once the real stack runs on the bench lab:

- rolling changes of both haproxy and of the three Galera nodes (an env value added, then taken away again), with a
  prober in the openstack container opening a new MySQL connection (held 0.15 s) and a keystone GET through the
  VIP every 0.2 s:
  how many probes failed, and the longest gap between two that passed;
- full stops of each kind (FULL_STOPS: docker kill, mariadbd killed with -9 or stopped with SIGSTOP inside
  running containers, docker pause) of all three Galera nodes, then one deploy-all, N times in a row each: how
  long each took, and that each brought back three Synced nodes holding the last committed row.

The prober's text is here (PROBER) and tests/e2e/test_day2.py runs the same one.
"""

from __future__ import annotations

import itertools
import time
import uuid
from pathlib import Path

import yaml

from bench.common import WORK, BenchError, say
from bench.results import Results
from bench.runner import Runner
from dockstack.config import Container, load_inventory, load_stack, secrets_file_for
from dockstack.config.tls import copy_kept
from dockstack.remote import Remotes, parallel
from dockstack.services.openstack import RECORD_PASSWORD, RECORD_USER
from dockstack.services.registry import DEFINITIONS

PROBE_LOG = "/tmp/dockstack-probe.log"
PROBE_STOP = "/tmp/dockstack-probe.stop"
PROBE_INTERVAL = 0.2
PROBE_SECRET = RECORD_PASSWORD[0]  # the secrets file's key of RECORD_USER's password
# python3 -c PROBER VIP_NAME USER, with PROBE_PASSWORD (USER's: the openstack supervisor's own database account,
# RECORD_USER; MariaDB's root answers on its nodes' local socket only) in its env; python3 and pymysql are in
# the openstack image. Each MySQL probe holds its connection for 0.15 s (SELECT SLEEP), so one is under way most of
# the time: a change that cuts connections under way fails a probe (with SELECT 1, only about one change in twenty
# met one). One line per probe: `TIME mysql|keystone ok|fail DETAIL`. A probe fails on an error or after
# 10 s without an answer (keystone answered a GET only after more than 5 s on a 2-core machine shared by three busy
# labs, with nothing being changed on its path); a shorter stall shows as the longest gap.
PROBER = r"""
import os, sys, time, urllib.request
import pymysql
vip, user, password = sys.argv[1], sys.argv[2], os.environ["PROBE_PASSWORD"]
log = open("/tmp/dockstack-probe.log", "a", buffering=1)
end = time.time() + 3600
while time.time() < end and not os.path.exists("/tmp/dockstack-probe.stop"):
    t = time.time()
    try:
        conn = pymysql.connect(host=vip, user=user, password=password, connect_timeout=10, read_timeout=10)
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM (SELECT SLEEP(0.15)) AS held")
            assert cur.fetchone() == (1,)
        conn.close()
        log.write(f"{t:.3f} mysql ok {time.time() - t:.3f}\n")
    except Exception as exc:
        log.write(f"{t:.3f} mysql fail {type(exc).__name__}: {str(exc)[:100]!r}\n")
    t = time.time()
    try:
        with urllib.request.urlopen(f"https://{vip}:5000/v3", timeout=10) as answer:  # the stack CA: trusted
            log.write(f"{t:.3f} keystone ok {answer.status}\n")
    except Exception as exc:
        log.write(f"{t:.3f} keystone fail {type(exc).__name__}: {str(exc)[:100]!r}\n")
    time.sleep(max(0.0, 0.2 - (time.time() - t)))
"""


# how each kind of full stop is made on every Galera node (argv on its host; {name}: the container)
FULL_STOPS = {
    "docker kill": ("docker", "kill", "{name}"),
    "pkill -9 mariadbd": ("docker", "exec", "{name}", "pkill", "-9", "-x", "mariadbd"),
    "kill -STOP mariadbd": ("docker", "exec", "{name}", "pkill", "-STOP", "-x", "mariadbd"),
    "docker pause": ("docker", "pause", "{name}"),
}


class Prober:
    """PROBER in a container (one that no measured change touches): started, stopped, its lines read back."""

    def __init__(self, remotes: Remotes, c: Container, vip_name: str, password: str) -> None:
        self.remotes, self.c, self.vip_name, self.password = remotes, c, vip_name, password

    def _exec(self, *argv: str, check: bool = True) -> str:
        return self.remotes[self.c.host].run(["docker", "exec", *argv], "prober", check=check).stdout

    def start(self) -> None:
        self._exec(self.c.name, "rm", "-f", PROBE_LOG, PROBE_STOP)
        self._exec("-d", "-e", f"PROBE_PASSWORD={self.password}", self.c.name, "python3", "-c", PROBER,
                   self.vip_name, RECORD_USER)
        started = time.monotonic()
        while not self.lines():  # its first probe answered: it runs
            if time.monotonic() - started > 20:
                raise BenchError("the prober wrote nothing within 20 s")

    def stop(self) -> list[list[str]]:
        self._exec(self.c.name, "touch", PROBE_STOP)
        return self.lines()

    def lines(self) -> list[list[str]]:
        out = self._exec(self.c.name, "cat", PROBE_LOG, check=False)
        return [x.split(" ", 3) for x in out.splitlines() if x.count(" ") >= 2]


def failed(lines: list[list[str]]) -> list[str]:
    return [" ".join(x) for x in lines if x[2] != "ok"]


def longest_gap(lines: list[list[str]], kind: str) -> float:
    """The longest time between two probes of a kind that passed (a slow answer during a handover shows here)."""
    times = [float(x[0]) for x in lines if x[1] == kind and x[2] == "ok"]
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def variant(containers: Path, role: str, value: str | None) -> Path:
    """A copy of the containers file (beside a copy of its secrets) with DOCKSTACK_BENCH_ROLL=value on every
    container of the role (None: the file as it is)."""
    data = yaml.safe_load(containers.read_text())
    if value is not None:
        for c in data["containers"]:
            if c["role"] == role:
                c["env"] = {**c.get("env", {}), "DOCKSTACK_BENCH_ROLL": value}
    path = WORK / "day2" / f"containers-{role}-{value or 'back'}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    copy_kept(containers, path)
    return path


def measure_day2(runner: Runner, hosts: Path, containers: Path, recoveries: int, res: Results) -> None:
    """The stack runs (deployed by measure_real): rolling changes under probes, then the full stops."""
    inv = load_inventory(hosts)
    stack = load_stack(inv, containers, definitions=DEFINITIONS)
    vip = stack.role("haproxy").vip
    if vip is None:
        raise BenchError("the real stack's haproxy role has no vip: nothing to probe through")
    password = str(yaml.safe_load(secrets_file_for(containers).read_text())[PROBE_SECRET])
    nodes = stack.of_role("galera")
    with Remotes(inv) as remotes:
        prober = Prober(remotes, stack.container("openstack"), f"{vip.name}.{inv.network.domain}", password)
        for role in ("haproxy", "galera"):
            for value in ("1", None):  # changed, then back: two rolls of the role
                prober.start()
                try:
                    run = runner.inv("deploy-all", hosts=hosts, containers=variant(containers, role, value))
                finally:
                    lines = prober.stop()
                if " 0 failed" not in run.output:
                    raise BenchError(f"the rolling change of {role} failed:\n{run.output}")
                roll = {"role": role, "seconds": run.seconds, "probes": len(lines), "failed": failed(lines),
                        "gap_mysql": longest_gap(lines, "mysql"), "gap_keystone": longest_gap(lines, "keystone")}
                res.day2.setdefault("rolls", []).append(roll)
                say(f"day 2: rolling change of {role} in {run.seconds:.1f}s: {len(lines)} probes, "
                    f"{len(roll['failed'])} failed, longest gap mysql {roll['gap_mysql']:.2f}s, keystone "
                    f"{roll['gap_keystone']:.2f}s")

        def sql(c: Container, query: str) -> str:
            return remotes[c.host].run(["docker", "exec", c.name, "mariadb", "-N", "-B", "-e", query],
                                       f"{c.name}: sql").stdout.strip()

        sql(nodes[0], "CREATE DATABASE IF NOT EXISTS bench; CREATE TABLE IF NOT EXISTS bench.rows "
                      "(id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(64))")
        for kind, argv in FULL_STOPS.items():
            for i in range(1, recoveries + 1):
                value = f"stop-{uuid.uuid4().hex[:12]}"
                sql(nodes[i % len(nodes)], f"INSERT INTO bench.rows (v) VALUES ('{value}')")
                parallel(nodes, lambda c, argv=argv, kind=kind: remotes[c.host].run(
                    [a.format(name=c.name) for a in argv], f"{c.name}: {kind}"))
                run = runner.inv("deploy-all", hosts=hosts, containers=containers, check=False)
                states = [sql(c, "SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'").split()[-1] for c in nodes]
                kept = [sql(c, f"SELECT COUNT(*) FROM bench.rows WHERE v = '{value}'") for c in nodes]  # value: hex
                ok = run.code == 0 and states == ["Synced"] * 3 and kept == ["1"] * 3
                res.day2.setdefault("recoveries", []).append({"kind": kind, "seconds": run.seconds, "ok": ok,
                                                              "states": states})
                say(f"day 2: full stop {i}/{recoveries} ({kind} on every galera node): deploy-all "
                    f"{run.seconds:.1f}s, {'3 Synced with the last row' if ok else f'NOT healed: {states} {kept}'}")
                if not ok:
                    raise BenchError(f"full stop {i} ({kind}) was not healed by one deploy-all:\n{run.output}")
