"""The README's main command as a newcomer runs it: in a fresh clone of this checkout's commit, with an empty image
cache and no lab, timed per phase (setup, lab.up, build, ship, deploy-all, ipam.show) from its own output lines,
with the bytes shipped to each host, and then `openstack token issue` through the VIP. It runs on the default lab
(the README's), so that lab must be down: the benchmark never takes a lab away from whoever uses it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from bench.common import ROOT, WORK, BenchError, say
from bench.results import FreshRun, Results
from bench.runner import Runner
from dockstack.config import load_inventory, load_stack
from dockstack.remote import Remotes
from dockstack.services.registry import DEFINITIONS
from dockstack.settings import CACHE_ENV

CLONE, CACHE = WORK / "fresh-clone", WORK / "fresh-cache"
FRESH_TIMEOUT = 45 * 60  # seconds the main command may take before the benchmark gives up on it
TOKEN_SCRIPT = ". /root/admin-openrc && echo \"$OS_AUTH_URL\" && openstack token issue -f value -c id"


def readme_main_command(readme: str) -> str:
    """The README's first shell block's first command: what a newcomer types first."""
    m = re.search(r"^```sh\n(.+?)\n", readme, re.M)
    if m is None:
        raise BenchError("README.md has no ```sh block: there is no main command to measure")
    return m.group(1).strip()


def _default_lab_problem() -> str | None:
    """Why the default lab can't be used (it is up, or its state is there), None when it can."""
    inv = load_inventory(ROOT / "hosts.yaml")
    state = Path(inv.lab.state_dir) if inv.lab else None
    if state is not None and state.exists():
        return (f"the default lab's state {state} exists (a lab is up, or was): the measurement starts from no lab; "
                "run `.venv/bin/inv lab.down --purge` when nobody uses it, then again")
    return None


def _token(clone: Path) -> tuple[bool, str]:
    """`openstack token issue` in the openstack container, through the VIP its admin-openrc names."""
    inv = load_inventory(clone / "hosts.yaml")
    stack = load_stack(inv, clone / "containers.yaml", definitions=DEFINITIONS)
    c = next(c for c in stack.containers if c.role == "openstack")
    with Remotes(inv) as remotes:
        r = remotes[c.host].run(["docker", "exec", c.name, "bash", "-c", TOKEN_SCRIPT], "openstack token issue",
                                check=False)
    out = r.stdout.splitlines()
    ok = r.ok and len(out) == 2 and out[1].startswith("gAAAA")
    return ok, (out[0] if ok else (r.stdout + r.stderr).strip()[-300:])


def measure_fresh(runner: Runner, res: Results) -> None:
    """The main command in a fresh clone of HEAD with an empty cache on the default lab, the token through the VIP,
    then the lab purged and the clone and cache removed (also when the command failed)."""
    problem = _default_lab_problem()
    if problem:
        raise BenchError(problem)
    command = readme_main_command((ROOT / "README.md").read_text())
    shutil.rmtree(CLONE, ignore_errors=True)
    shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(CLONE)], check=True)
    commit = subprocess.run(["git", "-C", str(CLONE), "log", "-1", "--format=%h"], check=True, text=True,
                            capture_output=True).stdout.strip()
    say(f"from empty: `{command}` in a fresh clone of {commit}, {CACHE_ENV}={CACHE}")
    try:
        run = runner.run(["bash", "-c", command], check=False, cwd=CLONE, env_extra={CACHE_ENV: str(CACHE)},
                         timeout=FRESH_TIMEOUT)
        if run.code != 0:
            tail = "\n".join(line for _, line in run.lines[-15:])
            raise BenchError(f"the main command exited {run.code}:\n{tail}")
        ok, said = _token(CLONE)
        res.fresh = FreshRun(command, commit, run, ok, said)
        say(f"from empty: {run.seconds / 60:.1f} min; token through the VIP: {'ok' if ok else 'FAILED'}")
    finally:
        say("from empty: purging the lab, removing the clone and the cache")
        if (CLONE / ".venv" / "bin" / "inv").exists():
            runner.run([str(CLONE / ".venv" / "bin" / "inv"), "lab.down", "--purge"], check=False, cwd=CLONE)
        shutil.rmtree(CLONE, ignore_errors=True)
        shutil.rmtree(CACHE, ignore_errors=True)
