"""The measurements: the ten-role engine stack, the real shipped stack and the scale stack, each from empty hosts,
floor and dockstack alternating which goes first from round to round so that drift of the machine weighs on both.
Each fills Results and prints a line per round; what the numbers mean is report.py's."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from bench.common import LEASE_PATH_CONTAINER, LIGHT_IMAGE, ROOT, SCALE_HOSTS, STACK_HOSTS, WORK, BenchError, say
from bench.day2 import measure_day2
from bench.floor import write_floor_plan
from bench.parse import floor_calls, real_phases
from bench.results import RealRound, Results, Run, ScaleRound, StackRound
from bench.runner import Runner, empty_hosts, write_hosts
from dockstack.config import load_inventory, load_stack, tiers
from dockstack.services.registry import DEFINITIONS
from tests.memory import MemorySampler

SCALE_ROLES = ("tier1", "tier2", "tier3")  # the scale stack's roles after dnsmasq, one tier each
# the container network of the bench lab's hosts files: the engine stack's addresses, a wider subnet for the scale
STACK_NETWORK = {"subnet": "10.100.0.0/24", "dhcp_range": "10.100.0.100-10.100.0.199", "domain": "dockstack.lab",
                 "bridge": "dsbr0", "mtu": 1450, "join": "vxlan", "vxlan_id": 4242, "vxlan_port": 4789,
                 "upstream_dns": []}
SCALE_NETWORK = {**STACK_NETWORK, "subnet": "10.101.0.0/22", "dhcp_range": "10.101.0.10-10.101.3.250"}
SCALE_DNSMASQ = {"name": "dnsmasq", "role": "dnsmasq", "host": "host1", "image": "dockstack/base:bookworm",
                 "mac": "02:00:0a:65:00:02", "ip": "10.101.0.2"}
ENGINE_STACK = ROOT / "tests" / "e2e" / "stacks" / "engine.yaml"  # the ten roles, light: the engine's own cost
# the real stack's no-change re-run, back to back: the first straight after deploy-all from empty (its services still
# busy starting: one sample of that moment decided the goal before), the goal judged on their median
NO_CHANGE_RUNS = 5


def write_scale_containers(path: Path, n: int, hosts: int) -> None:
    """dnsmasq, then N light containers in three tiers, spread round-robin over the hosts."""
    per_role = [n // len(SCALE_ROLES) + (i < n % len(SCALE_ROLES)) for i in range(len(SCALE_ROLES))]
    containers = [dict(SCALE_DNSMASQ)]
    k = 0
    for role, count in zip(SCALE_ROLES, per_role):
        for _ in range(count):
            k += 1
            containers.append({"name": f"c{k:03d}", "role": role, "host": f"host{(k - 1) % hosts + 1}",
                               "image": LIGHT_IMAGE})
    shipped = yaml.safe_load((ROOT / "containers.yaml").read_text())["images"]
    data = {"images": {LIGHT_IMAGE: shipped[LIGHT_IMAGE]},  # the same recipe: the cached build serves
            "roles": [{"name": "dnsmasq", "service": "dnsmasq", "check": "pgrep -x dnsmasq", "check_timeout": 20},
                      *({"name": r} for r in SCALE_ROLES)],
            "containers": containers}
    path.write_text(f"# Scale stack of the benchmark: {n} light containers (bench/run.py writes this file).\n"
                    + yaml.safe_dump(data, sort_keys=False))


def measure_stack(runner: Runner, rounds: int, res: Results) -> None:
    """Part 1: the ten-role stack on 3 hosts, floor and dockstack alternating which goes first."""
    hosts, containers, plan = WORK / "hosts-stack.yaml", WORK / "containers-stack.yaml", WORK / "floor-stack.tsv"
    write_hosts(hosts, STACK_HOSTS, STACK_NETWORK)
    shutil.copyfile(ENGINE_STACK, containers)
    say(f"lab: bringing up {STACK_HOSTS} bench hosts and syncing images")
    runner.inv("lab.up", f"--hosts={STACK_HOSTS}", hosts=hosts)
    runner.inv("images.sync", hosts=hosts, containers=containers)
    inv = load_inventory(hosts)
    stack = load_stack(inv, containers, definitions=DEFINITIONS)
    res.stack_containers = write_floor_plan(inv, stack, plan)
    res.stack_tiers = [", ".join(r.name for r in t) for t in tiers(stack)]
    res.dnsmasq_host["stack"] = stack.address_providers()[0].host
    say("warm-up: deploy-all once (sets up the container network, warms caches), then empty hosts")
    empty_hosts(runner, hosts, containers, res.restarts)
    runner.inv("deploy-all", hosts=hosts, containers=containers)
    for i in range(1, rounds + 1):
        runs: dict[str, Run] = {}
        for which in (("floor", "dockstack") if i % 2 else ("dockstack", "floor")):
            empty_hosts(runner, hosts, containers, res.restarts)
            if which == "floor":
                runs["floor"] = runner.floor(plan)
                res.floor_calls["stack"] = floor_calls(runs["floor"])
            else:
                runs["deploy"] = runner.inv("deploy-all", hosts=hosts, containers=containers, trace=True)
                runs["no_change"] = runner.inv("deploy-all", hosts=hosts, containers=containers, trace=True)
                if "0 changed" not in runs["no_change"].output:
                    raise BenchError(f"deploy-all re-run changed something:\n{runs['no_change'].output}")
                runner.inv("remove", f"--name={LEASE_PATH_CONTAINER}", hosts=hosts, containers=containers)
                runs["create"] = runner.inv("create", f"--name={LEASE_PATH_CONTAINER}", hosts=hosts,
                                            containers=containers, trace=True)
                if "lease)" not in runs["create"].output:
                    raise BenchError(f"create did not take the lease path:\n{runs['create'].output}")
        r = StackRound(runs["floor"], runs["deploy"], runs["no_change"], runs["create"])
        res.stack_rounds.append(r)
        say(f"round {i}/{rounds}: floor {r.floor.seconds:.2f}s, deploy-all {r.deploy.seconds:.2f}s "
            f"({r.deploy.seconds / r.floor.seconds:.2f}x), no change {r.no_change.seconds:.2f}s, "
            f"create {r.create.seconds:.2f}s")
    empty_hosts(runner, hosts, containers, res.restarts)

def up_for_real_only(runner: Runner) -> None:
    """`--only-real`: the 3 bench hosts measure_real runs on, without the engine stack's measurements."""
    hosts = WORK / "hosts-stack.yaml"
    write_hosts(hosts, STACK_HOSTS, STACK_NETWORK)
    say(f"lab: bringing up {STACK_HOSTS} bench hosts")
    runner.inv("lab.up", f"--hosts={STACK_HOSTS}", hosts=hosts)
    (WORK / "hosts-scale.yaml").unlink(missing_ok=True)  # the lab to tear down is this one


def measure_real(runner: Runner, rounds: int, res: Results, full_stops: int = 0) -> None:
    """Part 2: the shipped stack (Puppet server, agents, Galera, haproxy + keepalived) from empty hosts on the
    same 3 hosts, and its no-change re-run (which must run no agent, and runs every container's check); with
    full_stops, part 3 on the stack the last round left (bench/day2.py)."""
    hosts, containers = WORK / "hosts-stack.yaml", WORK / "containers-real.yaml"
    shutil.copyfile(ROOT / "containers.yaml", containers)  # its generated passwords go beside it, in WORK
    say("real stack: syncing its images to the bench hosts")
    runner.inv("images.sync", hosts=hosts, containers=containers)
    for i in range(1, rounds + 1):
        empty_hosts(runner, hosts, containers, res.restarts)
        memory = MemorySampler()  # the whole machine: the lab's containers are its processes
        memory.start()
        try:
            deploy = runner.inv("deploy-all", hosts=hosts, containers=containers, trace=True)
        finally:
            memory.done.set()
        after = memory.read()
        again = [runner.inv("deploy-all", hosts=hosts, containers=containers, trace=True)
                 for _ in range(NO_CHANGE_RUNS)]
        for run in again:
            if " 0 changed" not in run.output or "puppet agent" in run.output:
                raise BenchError(f"the real stack's re-run changed something:\n{run.output}")
        no_change = again[0]
        res.real_rounds.append(RealRound(deploy, no_change, memory.start_used, max(memory.peak, after), after,
                                         [r.seconds for r in again[1:]]))
        ph = real_phases(deploy)
        say(f"real stack round {i}/{rounds}: deploy-all {deploy.seconds:.1f}s (addressing {ph.addressing:.1f}, "
            f"Puppet agents {ph.puppet:.1f}, readiness {ph.readiness:.1f} of which the Puppet server's start "
            f"{ph.server_start:.1f}), no change {', '.join(f'{r.seconds:.2f}' for r in again)}s")
    if full_stops:
        measure_day2(runner, hosts, containers, full_stops, res)
    empty_hosts(runner, hosts, containers, res.restarts)


def measure_scale(runner: Runner, sizes: list[int], rounds: int, res: Results) -> None:
    """Part 2: light containers on 4 hosts, several per tier and per host."""
    hosts = WORK / "hosts-scale.yaml"
    write_hosts(hosts, STACK_HOSTS, SCALE_NETWORK)
    say(f"lab: growing the bench lab to {SCALE_HOSTS} hosts")
    runner.inv("lab.up", f"--hosts={SCALE_HOSTS}", hosts=hosts)  # rewrites hosts-scale.yaml for 4 hosts
    inv = load_inventory(hosts)
    files: dict[int, tuple[Path, Path]] = {}
    for n in [SCALE_HOSTS, *sizes]:
        containers, plan = WORK / f"containers-scale-{n}.yaml", WORK / f"floor-scale-{n}.tsv"
        write_scale_containers(containers, n, len(inv.hosts))
        write_floor_plan(inv, load_stack(inv, containers, definitions=DEFINITIONS), plan)
        files[n] = (containers, plan)
    res.dnsmasq_host["scale"] = SCALE_DNSMASQ["host"]
    res.scale_tiers = ["dnsmasq", *SCALE_ROLES]
    runner.inv("images.sync", hosts=hosts, containers=files[sizes[0]][0])
    say("warm-up: one light container per host (sets up the 4-host network), then empty hosts")
    empty_hosts(runner, hosts, files[SCALE_HOSTS][0], res.restarts)
    runner.inv("deploy-all", hosts=hosts, containers=files[SCALE_HOSTS][0])
    for i in range(1, rounds + 1):
        for n in sizes:
            containers, plan = files[n]
            runs: dict[str, Run] = {}
            for which in (("floor", "dockstack") if i % 2 else ("dockstack", "floor")):
                empty_hosts(runner, hosts, files[SCALE_HOSTS][0], res.restarts)
                if which == "floor":
                    runs["floor"] = runner.floor(plan)
                    res.floor_calls[f"scale-{n}"] = floor_calls(runs["floor"])
                else:
                    runs["deploy"] = runner.inv("deploy-all", hosts=hosts, containers=containers, trace=True)
            r = ScaleRound(n, runs["floor"], runs["deploy"])
            res.scale_rounds.append(r)
            say(f"round {i}/{rounds}, N={n}: floor {r.floor.seconds:.2f}s, deploy-all {r.deploy.seconds:.2f}s "
                f"({r.deploy.seconds / n:.3f}s per container, peak RSS {r.deploy.maxrss_kb / 1024:.0f} MB)")
    empty_hosts(runner, hosts, files[SCALE_HOSTS][0], res.restarts)

