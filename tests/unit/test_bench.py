"""The benchmark's pure parts: how it splits a deploy-all of the real stack into its phases, how it splices a report,
and the floor's plan, which must start the very containers dockstack starts (dockstack's own docker run arguments,
the files its service definitions render) and which bench/floor.sh must carry out as written."""

from __future__ import annotations

import importlib.util
import io
import re
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

import bench.cli
from bench import floor, fresh, machine, parse, report
from bench.common import STACK_HOSTS, BenchError
from bench.measure import ENGINE_STACK, STACK_NETWORK
from bench.results import FreshRun, RealRound, Results, Run, ScaleRound, StackRound
from bench.runner import write_hosts
from dockstack import actions, dockercli
from dockstack.actions import secret_files
from dockstack.config import ROOT, load_inventory, load_stack
from dockstack.services import secrets_dir, service_dir
from dockstack.services.base import Context
from dockstack.services.registry import DEFINITIONS, definition

BENCH = ROOT / "bench"


def test_real_phases_split_each_tier_by_its_slowest_container():
    lines = [(0.5, "facts"), (1.0, "[1/3] dnsmasq"), (1.8, "  dnsmasq: done"),
             (2.0, "[2/3] puppet"), (32.0, "  puppet: done"),
             (33.0, "[3/3] galera"), (40.0, "  galera1: done"), (50.0, "  galera2: done"), (51.0, "3 ok")]
    trace = [{"host": "host1", "step": "read host facts", "sent": 10},
             {"host": "host1", "container": "dnsmasq", "took": {"addressing": 0.5, "check": 0.1}},
             {"host": "host2", "container": "puppet", "took": {"addressing": 0.6, "check": 28.0}},
             {"host": "host1", "container": "galera1", "took": {"addressing": 1.0, "agent": 4.0, "check": 1.5}},
             {"host": "host2", "container": "galera2", "took": {"addressing": 1.2, "agent": 6.0, "check": 8.0}}]
    ph = parse.real_phases(Run(["inv"], 52.0, 0, lines, trace, 0))
    assert ph.before == 1.0
    assert ph.addressing == pytest.approx(0.5 + 0.6 + 1.2)  # galera2 is the slowest of its tier
    assert ph.puppet == pytest.approx(6.0)
    assert ph.readiness == pytest.approx(0.1 + 28.0 + 8.0)
    assert ph.server_start == pytest.approx(28.0)
    assert ph.other == pytest.approx(52.0 - 1.0 - 2.3 - 6.0 - 36.1)


def test_splice_real_replaces_only_the_real_stack_section_and_its_goal():
    old = ("# Benchmarks\n\n## Engine\n\n| a | b |\n\n## The real stack (old)\n\nold text\n\n| old | 1 |\n\n"
           "## Goals\n\n| goal | measured | |\n| --- | ---: | --- |\n| engine goal | 1.0 | met |\n"
           "| real stack: old goal | 9 s | **missed** |\n")
    section = ["", "## The real stack (new)\n", "what it is\n", "| measure | seconds |", "| x | 2 |"]
    text = report.splice_real(old, section, ["| real stack: no-change < 2 s | 0.9 s | met |"], "Measured now.\n")
    assert "old text" not in text and "old goal" not in text
    assert text.index("## Engine") < text.index("## The real stack (new)") < text.index("Measured now.")
    assert text.index("| x | 2 |") < text.index("## Goals") < text.index("| engine goal | 1.0 | met |")
    assert text.rstrip().endswith("| real stack: no-change < 2 s | 0.9 s | met |")
    assert "| a | b |" in text


def test_splice_real_keeps_the_blank_lines_that_end_tables_and_replaces_every_goal_it_judges():
    old = ("# Benchmarks\n\n## The real stack (old)\n\n## Goals\n\n| goal | measured | |\n| --- | ---: | --- |\n"
           "| rolling changes: no failed probe | 2 failed | **missed** |\n")
    section = ["", "## The real stack (new)\n", "| measure | seconds |", "| x | 2 |", "", "### Day 2\n", "| y | 3 |"]
    text = report.splice_real(old, section, ["| rolling changes: no failed probe | 0 failed | met |"], "Now.\n")
    assert "| x | 2 |\n\n### Day 2" in text  # a heading right under a table row would be read as a row
    assert "2 failed" not in text and text.count("| rolling changes: no failed probe |") == 1


def test_the_real_no_change_goal_is_judged_on_every_re_run_and_the_first_is_shown_apart(tmp_path):
    """The first re-run comes straight after deploy-all from empty, with the services still busy starting: one
    sample of that moment is not the re-run an operator makes, so the goal takes the median of all of them."""
    deploy = Run(["inv"], 200.0, 0, [(1.0, "[1/1] galera"), (199.0, "  galera1: done")], [], 0)
    first = Run(["inv"], 3.4, 0, [(3.4, "deploy-all: 1 ok, 0 changed, 0 failed")], [], 0)
    res = Results("2024-01-01 00:00 UTC", real_rounds=[RealRound(deploy, first, 1, 2, 3, [1.9, 2.1, 1.8, 2.0])])
    res.save(tmp_path / "results.json")
    assert Results.load(tmp_path / "results.json").real_rounds[0].no_change_seconds() == [3.4, 1.9, 2.1, 1.8, 2.0]
    goals: list[report.Goal] = []
    text = "\n".join(report.real_report(res, goals))
    assert "5 runs, back to back) | 2.00 (1.80-3.40) |" in text
    assert "| ... the first of them, straight after deploy-all from empty | 3.40 (3.40-3.40) |" in text
    [goal] = [g for g in goals if "no-change" in g.text]
    assert goal.measured == "2.00 s" and goal.met


def test_busy_is_the_load_when_the_run_started_not_its_own_at_the_end(monkeypatch):
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 2)
    lines = ["nproc: 2", "load average when the run started: 1.69 2.93 2.88",
             "load average when the run ended: 5.56 4.87 4.25"]  # the end: the real stack's own services
    assert not machine.started_busy(lines)
    lines[1] = "load average when the run started: 4.50 3.00 2.00"
    assert machine.started_busy(lines)


def test_run_py_is_only_the_entry_point_users_type(monkeypatch):
    """`python bench/run.py` keeps working: it puts the checkout first on sys.path, in place of the bench/ folder
    Python put there, and calls bench.cli.main."""
    monkeypatch.setattr(sys, "path", [str(BENCH), *(p for p in sys.path if Path(p).resolve() != ROOT)])
    spec = importlib.util.spec_from_file_location("bench_run_entry", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: main() does not run
    assert module.main is bench.cli.main
    assert Path(sys.path[0]).resolve() == ROOT
    assert BENCH not in [Path(p).resolve() for p in sys.path]


def test_report_only_rewrites_the_report_from_the_saved_results(tmp_path, monkeypatch, capsys):
    """`--report-only`: cli loads bench/.work/results.json and writes report.report's text, measuring nothing."""
    deploy = Run(["inv"], 4.5, 0, [(0.4, "[1/2] dnsmasq"), (1.0, "  dnsmasq: done"), (1.2, "  address book: 1"),
                                   (1.5, "[2/2] web"), (4.0, "  web: done"), (4.4, "deploy-all: 2 ok")],
                 [{"host": "host1", "step": "s", "sent": 100}, {"host": "host1", "connect": True},
                  {"host": "host1", "step": "address book transaction", "sent": 40}], 51200)
    floor_run = Run(["bash"], 3.0, 0, [(1.0, "tier 1 done"), (3.0, "tier 2 done"),
                                       (3.0, "floor: 2 containers, 3 ssh calls")], [], 0)
    res = Results("2024-01-01 00:00 UTC", machine=["m"], engine=["a"], command="cmd", stack_containers=2,
                  stack_tiers=["dnsmasq", "web"], stack_rounds=[StackRound(floor_run, deploy, deploy, deploy)],
                  scale_rounds=[ScaleRound(n, floor_run, deploy) for n in (30, 60)], scale_tiers=["dnsmasq", "web"])
    monkeypatch.setattr(bench.cli, "WORK", tmp_path)
    res.save(tmp_path / "results.json")
    out = tmp_path / "BENCHMARKS.md"
    assert bench.cli.main(["--report-only", f"--output={out}"]) == 0
    text, _ = report.report(res)
    assert out.read_text() == text
    assert "| deploy from empty hosts, wall s | 3.00 (3.00-3.00) | 4.50 (4.50-4.50) | 1.50 (1.50-1.50) |" in text
    said = capsys.readouterr().out
    assert f"wrote {out}" in said and "MISSED: deploy-all from empty ≤ 1.0× the floor (goal): 1.500×" in said
    # a run that measured no real stack keeps the real stack's last section and its goal rows
    out.write_text(text.replace("## Goals", "## The real stack (earlier)\n\n| a | 1 |\n\n### Day 2\n\n| b | 2 |\n\n"
                                "## Goals") + "| real stack: y | 1 s | met |\n")
    assert bench.cli.main(["--report-only", f"--output={out}"]) == 0
    kept = out.read_text()
    assert kept.index("## Scale") < kept.index("## The real stack (earlier)") < kept.index("### Day 2") \
        < kept.index("## Goals")
    assert kept.rstrip().endswith("| real stack: y | 1 s | met |") and "| b | 2 |" in kept


def test_no_module_of_the_bench_tests_a_service_by_its_name():
    """The floor asks dockstack's definitions what a service container needs, as the engine does."""
    for path in sorted(BENCH.glob("*.py")):
        assert not re.search(r"\.service\s*[!=]=|[!=]=\s*\w+\.service\b", path.read_text()), path.name


# --- the floor's plan, from dockstack's own builders ---------------------------------------------------------


@pytest.fixture
def engine(tmp_path):
    """The engine stack on the bench lab's 3 hosts, as measure_stack loads it."""
    hosts = tmp_path / "hosts-stack.yaml"
    write_hosts(hosts, STACK_HOSTS, STACK_NETWORK)
    inv = load_inventory(hosts)
    return inv, load_stack(inv, ENGINE_STACK, definitions=DEFINITIONS)


def context(inv, stack) -> Context:
    return Context(stack, inv.network, tuple(dns(stack)), DEFINITIONS)


def dns(stack) -> list[str]:
    return [str(d.ip) for d in stack.address_providers()]


def without_labels(argv: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--label":
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def untar(payload: bytes) -> tuple[dict[str, str], set[str], dict[str, int]]:
    """A tar.gz as (file path -> text, folders, path -> mode), paths absolute as on the host."""
    files, dirs, modes = {}, set(), {}
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        for m in tar.getmembers():
            path = "/" + m.name.rstrip("/")
            modes[path] = m.mode
            if m.isdir():
                dirs.add(path)
            else:
                files[path] = tar.extractfile(m).read().decode()
    return files, dirs, modes


@pytest.mark.parametrize("name", ["dnsmasq", "haproxy", "puppet", "galera"])
def test_the_floors_docker_run_is_dockstacks_with_the_floors_label_for_its_own(engine, name):
    inv, stack = engine
    c = next(x for x in stack.containers if x.name == name)
    theirs = dockercli.run_argv(c, inv.network, dns(stack))
    ours = floor.floor_docker_run(c, inv.network, dns(stack))
    env = [x for k, v in c.env for x in ("--env", f"{k}={v}")]  # dockstack's come from its env file
    image_at = ours.index(c.image)
    assert ours[image_at - len(env):image_at] == env
    assert ["docker", *without_labels(ours[:image_at - len(env)] + ours[image_at:])] == without_labels(theirs)
    labels = [ours[i + 1] for i, x in enumerate(ours) if x == "--label"]
    assert labels == [floor.FLOOR_LABEL]
    assert ours.index("--label") < ours.index("--dns-search")  # where dockstack's labels were
    assert ("--cap-add" in ours) == (name == "dnsmasq")  # dnsmasq's NET_ADMIN comes from its definition


def test_the_floors_haproxy_runs_dockstacks_supervisor_and_dnsmasq_its_own_command(engine):
    inv, stack = engine
    by_name = {c.name: c for c in stack.containers}
    haproxy = floor.floor_docker_run(by_name["haproxy"], inv.network, dns(stack))
    assert haproxy[-3:] == ["dockstack/haproxy:bookworm", "bash", "/etc/haproxy/supervise.sh"]
    assert "--volume" in haproxy and "/var/lib/dockstack/haproxy/haproxy:/etc/haproxy:ro" in haproxy
    dnsmasq = floor.floor_docker_run(by_name["dnsmasq"], inv.network, dns(stack))
    assert dnsmasq[dnsmasq.index("--cap-add") + 1] == "NET_ADMIN"
    assert dnsmasq[-3:] == ["dnsmasq", "--keep-in-foreground", "--conf-file=/var/lib/dockstack/dnsmasq.conf"]
    assert dnsmasq[dnsmasq.index("--dns") + 1] == "127.0.0.1"
    puppet = floor.floor_docker_run(by_name["puppet"], inv.network, dns(stack))
    assert puppet[-4:] == ["dockstack/puppet:bookworm", "sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]


def test_the_floor_passes_env_as_env_options_before_the_image(shipped_inventory, shipped_stack):
    """dockstack writes an env file the action script hands to `--env-file`; the floor has no such step. (No
    shipped container has env of its own: its secrets are files. One is given some here.)"""
    c = replace(shipped_stack.container("openstack"), env=(("MODE", "x"), ("DB_PASSWORD_FILE", "/run/secrets/p")))
    ours = floor.floor_docker_run(c, shipped_inventory.network, dns(shipped_stack))
    theirs = dockercli.run_argv(c, shipped_inventory.network, dns(shipped_stack))
    env = [x for k, v in c.env for x in ("--env", f"{k}={v}")]
    image_at = ours.index(c.image)
    assert ours[image_at - len(env):image_at] == env
    assert ["docker", *without_labels([x for i, x in enumerate(ours) if i not in range(image_at - len(env), image_at)])
            ] == without_labels(theirs)


def test_the_floor_gives_a_vip_holder_the_caps_and_the_secret_file_dockstack_gives_it(shipped_inventory,
                                                                                      shipped_stack):
    c = next(x for x in shipped_stack.containers if x.vip is not None)
    ours = floor.floor_docker_run(c, shipped_inventory.network, dns(shipped_stack))
    assert [ours[i + 1] for i, x in enumerate(ours) if x == "--cap-add"] == ["NET_ADMIN", "NET_RAW"]
    files, _, modes = untar(floor.floor_payload(context(shipped_inventory, shipped_stack), c))
    conf = f"{service_dir(c)}/keepalived.conf"
    assert conf in files and modes[conf] == 0o600
    assert modes[f"{service_dir(c)}/haproxy.cfg"] == 0o644


@pytest.mark.parametrize("name", ["dnsmasq", "haproxy", "puppet"])
def test_the_floor_ships_what_the_services_definition_renders(engine, name):
    inv, stack = engine
    c = next(x for x in stack.containers if x.name == name)
    d = definition(c)
    base = service_dir(c)
    rendered = {f"{base}/{p}": t for p, t in d.files(context(inv, stack), c).items()}
    files, dirs, _ = untar(floor.floor_payload(context(inv, stack), c))
    assert files == rendered | secret_files(c)  # its secret files too, as dockstack's action sends them
    assert dirs == {f"{base}/{x}" for x in d.folders(c)} | ({secrets_dir(c)} if c.secrets else set())


def test_what_the_floor_ships_for_haproxy_and_dnsmasq(engine):
    """The names, spelled out: a definition that stopped rendering one would fail here, not only above."""
    inv, stack = engine
    ctx = context(inv, stack)
    by_name = {c.name: c for c in stack.containers}
    files, dirs, _ = untar(floor.floor_payload(ctx, by_name["haproxy"]))
    assert sorted(files) == [f"/var/lib/dockstack/haproxy/haproxy/{x}" for x in ("haproxy.cfg", "member", "ready",
                                                                                  "supervise.sh", "tls.pem")]
    assert "backend mysql" in files["/var/lib/dockstack/haproxy/haproxy/haproxy.cfg"]
    files, dirs, _ = untar(floor.floor_payload(ctx, by_name["dnsmasq"]))
    assert sorted(files) == [f"/var/lib/dockstack/dnsmasq/dnsmasq/{x}" for x in ("check", "dnsmasq.conf")]
    assert {"/var/lib/dockstack/dnsmasq/dnsmasq/hosts.d", "/var/lib/dockstack/dnsmasq/dnsmasq/dhcp-hosts.d"} <= dirs
    assert "dhcp-range=" in files["/var/lib/dockstack/dnsmasq/dnsmasq/dnsmasq.conf"]
    assert floor.floor_payload(ctx, by_name["galera"]) is None  # no service: nothing to ship


def test_the_plan_has_a_line_per_container_with_its_files_and_dockstacks_arguments(engine, tmp_path):
    inv, stack = engine
    plan = tmp_path / "floor-stack.tsv"
    assert floor.write_floor_plan(inv, stack, plan) == len(stack.containers) == 10
    rows = [line.split("\t") for line in plan.read_text().splitlines()]
    sets = {r[1]: r[2] for r in rows if r[0] == "set"}
    assert sets["dnsmasq_dir"] == "/var/lib/dockstack/dnsmasq/dnsmasq" and sets["dnsmasq_address"] == "10.97.0.11"
    lines = {r[2]: r for r in rows if r[0] == "c"}
    assert [r[2] for r in rows if r[0] == "c"][:3] == ["dnsmasq", "puppet", "haproxy"]  # tier order
    by_name = {c.name: c for c in stack.containers}
    for name, r in lines.items():
        c = by_name[name]
        assert r[9:] == floor.floor_docker_run(c, inv.network, dns(stack)), name
        if definition(c) is None:
            assert r[8] == "-", name
        else:
            # the contents: gzip's header holds the second it was written
            assert untar(Path(r[8]).read_bytes()) == untar(floor.floor_payload(context(inv, stack), c)), name
    assert lines["dnsmasq"][5:8] == ["10.100.0.2/24", "02:00:0a:64:00:02", "sh /var/lib/dockstack/check"]
    assert lines["galera"][5:8] == ["-", "-", "-"]  # DHCP, no check


# --- floor.sh carries the plan out: against fake ssh, docker, nsenter, ip, tar --------------------------------

DEAD_PID = "99999999"
FAKE_SSH = """case "$*" in *" -O exit "*) exit 0 ;; esac
for a in "$@"; do cmd=$a; done
exec sh -c "$cmd"  # the remote command line, run here (its standard input passed on)
"""
# `docker run` writes its arguments, one a line, to a file of its own: the log of fakebin is shared by the
# containers of a tier, which run at once
FAKE_DOCKER = f"""case "$1" in
  run) name=$(printf '%s\\n' "$@" | sed -n '/^--name$/{{n;p;q}}'); printf '%s\\n' "$@" > "$FAKEBIN_STATE/run-$name" ;;
  container) echo {DEAD_PID} ;;
esac
"""
FAKE_NSENTER = r"""case "$*" in
  *" ip -o -4 addr show dev eth0") printf '%s\n' '9: eth0    inet 10.100.0.150/24 brd 10.100.0.255 scope global eth0' ;;
  *" -- "*) while [ "$1" != -- ]; do shift; done; shift; exec "$@" ;;
esac
"""
# env -i, keeping only what the fakes need to log
FAKE_ENV = """[ "$1" = -i ] || { echo "env without -i: $*" >&2; exit 9; }
shift
exec /usr/bin/env -i FAKEBIN_LOG="$FAKEBIN_LOG" FAKEBIN_STATE="$FAKEBIN_STATE" "$@"
"""
# the only tar call floor.sh makes, into a folder of the test instead of /
FAKE_TAR = """[ "$*" = "-xzf - -C / --no-same-owner" ] || { echo "unexpected: tar $*" >&2; exit 9; }
mkdir -p "$FAKEBIN_STATE/root" && exec /usr/bin/tar -xzf - -C "$FAKEBIN_STATE/root" --no-same-owner
"""


def test_floor_sh_unpacks_each_service_containers_files_then_runs_dockstacks_docker_run(engine, tmp_path, fakebin):
    inv, stack = engine
    plan = tmp_path / "floor-stack.tsv"
    floor.write_floor_plan(inv, stack, plan)
    dnsmasq_dir = tmp_path / "dnsmasq-dir"  # the DNS step's folder: this test's, never the machine's
    dhcp_dir = tmp_path / "dhcp-dir"  # and the leases' hook folder
    plan.write_text(plan.read_text().replace("set\tdnsmasq_dir\t/var/lib/dockstack/dnsmasq/dnsmasq",
                                             f"set\tdnsmasq_dir\t{dnsmasq_dir}")
                    .replace(f"set\tdhcp_dir\t{actions.DHCP_DIR}", f"set\tdhcp_dir\t{dhcp_dir}"))
    for name, body in {"ssh": FAKE_SSH, "docker": FAKE_DOCKER, "nsenter": FAKE_NSENTER, "tar": FAKE_TAR,
                       "ip": "exit 0\n", "env": FAKE_ENV, "udhcpc": "exit 9\n"}.items():
        fakebin.add(name, body)
    proc = fakebin.run(["bash", str(BENCH / "floor.sh"), str(plan)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "floor: 10 containers, 16 ssh calls"  # 10 containers, 6 tiers' DNS
    root = fakebin.state / "root"
    by_name = {c.name: c for c in stack.containers}
    for name in ("dnsmasq", "haproxy", "puppet"):
        c = by_name[name]
        for rel, text in definition(c).files(context(inv, stack), c).items():
            assert (root / service_dir(c).lstrip("/") / rel).read_text() == text, (name, rel)
    assert (root / "var/lib/dockstack/dnsmasq/dnsmasq/hosts.d").is_dir()
    for c in stack.containers:
        argv = floor.floor_docker_run(c, inv.network, dns(stack))
        assert (fakebin.state / f"run-{c.name}").read_text().splitlines() == argv, c.name
    assert (dnsmasq_dir / "hosts.d" / "floor").read_text().count("10.100.0.150 ") == 9  # all but dnsmasq: DHCP
    # each lease as dockstack takes it: the host's udhcpc in the container's network namespace only, dockstack's hook
    leases = [c for c in fakebin.calls("nsenter") if "udhcpc" in c]
    assert len(leases) == 9 and all(re.fullmatch(
        rf"nsenter -t {DEAD_PID} -n udhcpc -f -q -n -C -i eth0 -s {dhcp_dir}/hook\.\w+ -t 30 -T 1 "
        r"-x hostname:[a-z0-9-]+", c) for c in leases), leases
    assert (plan.parent / f"{plan.stem}.files" / "dhcp_hook.sh").read_text() == actions.DHCP_HOOK
    assert list(dhcp_dir.iterdir()) == [] and fakebin.calls("udhcpc") == []  # gone after; nothing ran outside it


def test_the_main_command_measured_is_the_readmes_first_command():
    text = (ROOT / "README.md").read_text()
    cmd = fresh.readme_main_command(text)
    assert cmd.startswith("bash scripts/setup.sh && ") and "images.sync" in cmd and "deploy-all" in cmd
    assert cmd in text.split("```sh\n")[1].split("```")[0]
    with pytest.raises(BenchError, match="no ```sh block"):
        fresh.readme_main_command("# no commands here\n")


FRESH_LINES = [(3.0, "setup: creating .venv"), (40.0, "setup: ready (.venv/bin/inv)"),
               (50.0, "  changed: host1: started dockerd"), (55.0, "lab.up: 3 host(s) up, 28 change(s)"),
               (56.0, "bookworm: root layer: debootstrap"), (80.0, "bookworm: root layer: built (51 MiB) in 24s"),
               (100.0, "dockstack/base:bookworm: build: built sha256:e84443ecb492 (11 MiB on the 51 MiB root layer)"),
               (120.0, "host1: dockstack/base:bookworm: sent 62 MiB and loaded in 9s"),
               (300.0, "dockstack/openstack:bookworm: build: built sha256:cac92914ea0b (510 MiB on the 51 MiB ...)"),
               (301.0, "host1: dockstack/base:bookworm: sending 2 layer(s)"),
               (302.0, "host2: dockstack/base:bookworm up to date"),
               (380.0, "host1: 7 image(s) loaded, 512.5 MiB sent"), (390.0, "host3: 2 image(s) loaded, 1.1 GiB sent"),
               (391.0, "images.sync: 9 transfer(s)"), (392.0, "[1/6] dnsmasq"),
               (520.0, "deploy-all: 14 ok, 14 changed, 0 failed"), (521.0, "NAME ROLE IP")]


def test_the_main_commands_phases_end_at_the_lines_that_end_them():
    """Shipping overlaps the builds (a host gets each image once built): ship is what is left after the last."""
    ph = parse.fresh_phases(FRESH_LINES, 522.0)
    assert ph.seconds == {"setup": 40.0, "lab.up": 15.0, "build": 245.0, "ship": 91.0, "deploy-all": 129.0,
                          "ipam.show": 2.0}
    assert sum(ph.seconds.values()) == 522.0
    assert ph.sent == {"host1": "512.5 MiB", "host3": "1.1 GiB"} and ph.setup_installed == ""
    installed = parse.fresh_phases([(1.0, "setup: installing Debian packages: docker.io sudo"),
                                    (2.0, "setup: installing Python packages"), *FRESH_LINES], 522.0)
    assert installed.setup_installed == "docker.io sudo"
    with pytest.raises(BenchError, match="no end of ship, deploy-all"):
        parse.fresh_phases(FRESH_LINES[:11], 400.0)


def test_the_from_empty_section_goes_before_the_goals_is_replaced_later_and_survives_a_full_report(tmp_path):
    fresh_run = FreshRun("bash scripts/setup.sh && x", "abc1234", Run(["bash"], 522.0, 0, FRESH_LINES, [], 0), True,
                         "https://vip.dockstack.lab:5000/v3")
    res = Results("2026-12-03 06:00 UTC", fresh=fresh_run, command="bench/run.py --from-empty")
    res.save(tmp_path / "r.json")
    assert Results.load(tmp_path / "r.json").fresh == fresh_run
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n## The real stack (x)\n\n| a | 1 |\n\n## Goals\n\n| goal | measured | |\n"
                   "| --- | ---: | --- |\n| real stack: y | 1 s | met |\n")
    report.write_fresh_only(res, out)
    text = out.read_text()
    assert text.index("## The real stack") < text.index("## The README's main command") < text.index("## Goals")
    assert "| **the whole command** | **522.0** (8.7 min) |" in text and "| host3 | 1.1 GiB |" in text
    assert "| host2 | nothing |" in text and "(setup installed none)" in text
    assert text.rstrip().endswith("8.7 min, token ok | met |") and "| real stack: y | 1 s | met |" in text
    res.fresh = FreshRun(**{**fresh_run.__dict__, "token_ok": False})
    report.write_fresh_only(res, out)
    again = out.read_text()
    assert again.count("## The README's main command") == 1 and again.rstrip().endswith("token failed | **missed** |")
    assert again.count("| README's main command") == 1
    kept = report.keep_section(again, "# Benchmarks\n\n## Engine\n\n## Goals\n\n| goal | measured | |\n"
                               "| --- | ---: | --- |\n| engine | 1 | met |\n", report.FRESH_HEADING,
                               report.FRESH_GOAL_ROW)
    assert kept.index("## Engine") < kept.index("## The README's main command") < kept.index("## Goals")
    assert "| host3 | 1.1 GiB |" in kept and kept.rstrip().endswith("token failed | **missed** |")
    assert "| engine | 1 | met |" in kept


def test_a_section_measured_while_the_engine_changed_says_so(tmp_path, capsys):
    """--only-real and --from-empty warn like a full run when the code `inv` runs changed half-way (a supervisor
    committed during a run re-created a container in a full stop's deploy-all)."""
    fresh_run = FreshRun("bash scripts/setup.sh && x", "abc1234", Run(["bash"], 522.0, 0, FRESH_LINES, [], 0), True,
                         "https://vip.dockstack.lab:5000/v3")
    res = Results("2026-12-03 06:00 UTC", fresh=fresh_run, engine=["aaa", "bbb"])
    report.write_fresh_only(res, tmp_path / "BENCHMARKS.md")
    assert "WARNING: the engine's code changed during the run (aaa -> bbb)" in capsys.readouterr().out


def test_the_engine_fingerprint_covers_the_service_definitions(tmp_path, monkeypatch):
    (tmp_path / "dockstack" / "services").mkdir(parents=True)
    (tmp_path / "templates").mkdir()
    (tmp_path / "tasks.py").write_text("")
    definition = tmp_path / "dockstack" / "services" / "openstack.py"
    definition.write_text("A = 1\n")
    monkeypatch.setattr(machine, "ROOT", tmp_path)
    before = machine.engine_fingerprint()
    definition.write_text("A = 2\n")
    assert machine.engine_fingerprint() != before


def test_the_full_stops_are_reported_per_kind_and_the_goal_holds_only_when_each_healed_in_time():
    from bench.report import day2_report
    stops = [{"kind": k, "seconds": s, "ok": ok, "states": []} for k, s, ok in (
        ("docker kill", 18.5, True), ("docker kill", 20.0, True), ("docker pause", 30.2, True),
        ("docker pause", 95.0, True))]
    goals: list = []
    lines = day2_report(Results("2026-12-07 14:00 UTC", day2={"recoveries": stops}), goals)
    assert "| docker kill | 18.5 | 20.0 | 20.0 |" in lines
    assert "| docker pause | 30.2 | 95.0 | 95.0 |" in lines
    assert [(g.met, g.measured) for g in goals] == [(False, "4 of 4 healed, slowest 95.0 s")]
    stops[-1].update(seconds=40.0, ok=False)
    goals = []
    lines = day2_report(Results("2026-12-07 14:00 UTC", day2={"recoveries": stops}), goals)
    assert "| docker pause | 30.2 | **40.0** | 40.0 |" in lines and not goals[0].met
