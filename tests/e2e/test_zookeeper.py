"""Issue 10, ZooKeeper: the shipped stack's cassandra role runs Debian's ZooKeeper for real, configured by Puppet.

One deployed stack is shared by the module's tests (the rest of the stack as it is, or deployed by the fixture);
the cassandra containers start from empty: no container, no data. Times are printed (pytest -s shows them).
"""

from __future__ import annotations

import datetime
import re
import shlex
import time

import pytest
import yaml

from dockstack.config import ROOT, Container, Stack
from dockstack.config.tls import copy_kept
from dockstack.services import service_dir
from dockstack.services.zookeeper import CFG as ZOOKEEPER_CFG

from .helpers import Deployed, run_inv, ssh

LAB = "main"
SHIPPED = ROOT / "containers.yaml"
INV_TIMEOUT = 900  # the bound on each inv here, a deploy-all of the shipped stack included
DOMAIN = "dockstack.lab"


def ask(inventory, c: Container, word: str) -> str:
    """ZooKeeper's answer to a four-letter word, asked inside its container (as the readiness check asks)."""
    return ssh(inventory, c.host, f"docker exec {c.name} bash /var/lib/dockstack/zookeeper/ask {word}").stdout


@pytest.fixture(scope="module")
def zk(inventory, shipped_from_empty: Deployed) -> tuple[Stack, list[Container], str]:
    """The shipped stack deployed from empty; its cassandra containers (ZooKeeper) made by that deploy-all."""
    stack = shipped_from_empty.stack
    nodes = list(stack.of_role("cassandra"))
    for c in nodes:
        took = next(e["took"] for e in shipped_from_empty.events if e.get("container") == c.name and "took" in e)
        print(f"\nzookeeper: {c.name}: agent run {took.get('agent', 0):.1f}s, readiness wait after it "
              f"{took['check'] / 1000:.1f}s, ZooKeeper's start {start_seconds(inventory, c):.1f}s")
    return stack, nodes, shipped_from_empty.out


def start_seconds(inventory, c: Container) -> float:
    """From the supervisor's start of ZooKeeper (once zoo.cfg was written) to ZooKeeper listening, from the
    container's log (both lines carry the container's clock)."""
    logs = ssh(inventory, c.host, f"docker logs {c.name} 2>&1").stdout
    started = re.search(r"^dockstack-zookeeper: (\S+ \S+) starting ZooKeeper", logs, re.M)
    bound = re.search(r"^(\S+ \S+) - INFO .*binding to port", logs, re.M)
    assert started and bound, logs[-2000:]
    return (log_time(bound.group(1)) - log_time(started.group(1))).total_seconds()


def log_time(stamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")


def test_zookeeper_answers_imok_and_runs_standalone(zk, inventory):
    _, nodes, out = zk
    assert "0 failed" in out, out
    c = nodes[0]
    assert ask(inventory, c, "ruok") == "imok"
    srvr = ask(inventory, c, "srvr")
    assert "Mode: standalone" in srvr and "Zookeeper version: 3.8" in srvr, srvr
    # what other roles use: the client port by DNS name, from another container on the container network
    probe = (f"exec 3<>/dev/tcp/{c.name}.{DOMAIN}/2181 && printf ruok >&3 && timeout 2 cat <&3")
    assert ssh(inventory, "host3", f"docker exec config bash -c {shlex.quote(probe)}").stdout == "imok"
    logs = ssh(inventory, c.host, f"docker logs {c.name} 2>&1").stdout
    assert re.search(rf"^dockstack-zookeeper: .* starting ZooKeeper with {ZOOKEEPER_CFG}$", logs, re.M)
    assert "binding to port 0.0.0.0/0.0.0.0:2181" in logs, logs[-2000:]  # ZooKeeper's own log: docker logs


def test_zoo_cfg_from_puppet_and_a_second_run_changes_nothing(zk, inventory):
    stack, nodes, _ = zk
    c = nodes[0]
    cfg = ssh(inventory, c.host, f"docker exec {c.name} cat {ZOOKEEPER_CFG}").stdout
    for line in ("dataDir=/var/lib/zookeeper", "clientPort=2181", "4lw.commands.whitelist=ruok,srvr",
                 f"server.1={c.name}.{DOMAIN}:2888:3888", "admin.enableServer=false"):
        assert f"\n{line}\n" in cfg, line
    # myid and the data on the host, in the container's service folder
    data = f"{service_dir(c)}/data"
    assert ssh(inventory, c.host, f"cat {data}/myid").stdout == "1\n"
    assert "version-2" in ssh(inventory, c.host, f"ls {data}").stdout.split()
    # nothing changed: no agent run, ZooKeeper untouched
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert f"{len(stack.containers)} ok, 0 changed, 0 failed" in out and "puppet agent" not in out


def test_stop_is_clean_and_a_recreated_container_keeps_the_data(zk, inventory):
    _, nodes, _ = zk
    c = nodes[0]
    data = f"{service_dir(c)}/data/version-2"
    before = set(ssh(inventory, c.host, f"ls {data}").stdout.split())
    assert before, "ZooKeeper wrote no snapshot or log"
    started = time.monotonic()
    ssh(inventory, c.host, f"docker stop {c.name}")
    took = time.monotonic() - started
    assert took < 8, took  # the supervisor passes SIGTERM on: docker never waits its 10 s to kill
    code = ssh(inventory, c.host, f"docker inspect --format '{{{{.State.ExitCode}}}}' {c.name}").stdout.strip()
    assert code == "0"
    print(f"\nzookeeper: docker stop took {took:.1f}s")
    run_inv("remove", f"--name={c.name}", containers=SHIPPED, timeout=INV_TIMEOUT)
    # the agent runs again, the readiness check waits for imok
    run_inv("create", f"--name={c.name}", containers=SHIPPED, timeout=INV_TIMEOUT)
    assert ask(inventory, c, "ruok") == "imok"
    after = set(ssh(inventory, c.host, f"ls {data}").stdout.split())
    assert before <= after, (before, after)  # the new container found the old data on the host


def test_renaming_the_role_keeps_the_ensemble(zk, inventory, tmp_path):
    """Profiles find ZooKeeper's members by service, not by the role's name: with the role `cassandra` renamed to
    `zk`, deploy-all re-creates the container in the new role and it still answers imok with every member listed
    in zoo.cfg; renamed back, the same."""
    stack, nodes, _ = zk
    data = yaml.safe_load(SHIPPED.read_text())
    for role in data["roles"]:
        if role["name"] == "cassandra":
            role["name"] = "zk"
        role["depends_on"] = ["zk" if d == "cassandra" else d for d in role.get("depends_on", [])]
    for c in data["containers"]:
        c["role"] = "zk" if c["role"] == "cassandra" else c["role"]
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(yaml.safe_dump(data, sort_keys=False))
    copy_kept(SHIPPED, renamed)  # the same generated passwords
    try:
        out = run_inv("deploy-all", containers=renamed, timeout=INV_TIMEOUT).stdout
        assert "0 failed" in out, out
        for c in nodes:
            assert ask(inventory, c, "ruok") == "imok"
            cfg = ssh(inventory, c.host, f"docker exec {c.name} cat {ZOOKEEPER_CFG}").stdout
            for i, member in enumerate(nodes, 1):
                assert f"\nserver.{i}={member.name}.{DOMAIN}:2888:3888\n" in cfg, cfg
            role = ssh(inventory, c.host, f"docker inspect --format '{{{{index .Config.Labels "
                       f"\"org.dockstack.role\"}}}}' {c.name}").stdout.strip()
            assert role == "zk"
    finally:
        # the shipped names again, for the modules after this one
        out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert "0 failed" in out, out
    assert all(ask(inventory, c, "ruok") == "imok" for c in nodes)
    assert len(stack.of_role("cassandra")) == len(nodes)
