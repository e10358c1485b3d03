"""Redis, the service added as a definition alone (dockstack/services/redis.py): in the shipped stack deployed from
empty, `inv status` shows it pass, it answers PING with the generated password on its own address only, and a
client without the password gets NOAUTH."""

from __future__ import annotations

import json
import shlex

import pytest

from dockstack.config import ROOT, Container

from .helpers import Deployed, run_inv, ssh

LAB = "main"
SHIPPED = ROOT / "containers.yaml"
DOMAIN = "dockstack.lab"


@pytest.fixture(scope="module")
def redis(shipped_from_empty: Deployed) -> Container:
    assert "0 failed" in shipped_from_empty.out, shipped_from_empty.out
    (c,) = [c for c in shipped_from_empty.stack.containers if c.service == "redis"]
    return c


def test_status_shows_redis_pass(redis):
    rows = {r["name"]: r for r in json.loads(run_inv("status", "--json", f"--containers-file={SHIPPED}").stdout)}
    assert rows[redis.name]["health"] == "pass", rows[redis.name]


def test_a_client_without_the_password_gets_noauth_and_with_it_pong(redis, inventory):
    # from another container of the segment, by DNS name: Redis listens on its own address
    without = ssh(inventory, redis.host, f"docker exec {redis.name} redis-cli -h {redis.name}.{DOMAIN} ping",
                  check=False)
    assert "NOAUTH" in without.stdout + without.stderr, without
    ping = 'REDISCLI_AUTH=$(cat /run/secrets/REDIS_PASSWORD) redis-cli -h "$1" ping'  # its secret file (root's)
    with_pw = ssh(inventory, redis.host, f"docker exec {redis.name} sh -c {shlex.quote(ping)} sh "
                  f"{redis.name}.{DOMAIN}")
    assert with_pw.stdout.strip() == "PONG"
    # bound to the container's address only: nothing answers on the loopback
    local = ssh(inventory, redis.host, f"docker exec {redis.name} redis-cli -h 127.0.0.1 ping", check=False)
    assert "PONG" not in local.stdout and "NOAUTH" not in local.stdout, local


def test_redis_runs_as_redis_with_only_its_own_environment(redis, inventory):
    pid = ssh(inventory, redis.host, f"docker exec {redis.name} pgrep -x redis-server").stdout.split()[0]
    user = ssh(inventory, redis.host, f"docker exec {redis.name} ps -o user= -p {pid}").stdout.strip()
    assert user == "redis"
    # read as redis: root in a container may read another user's /proc/PID/environ only as that user
    environ = ssh(inventory, redis.host, f"docker exec --user redis {redis.name} cat /proc/{pid}/environ").stdout
    assert environ == "", environ.replace("\0", " ")  # env -i: nothing, the password least of all


def test_a_stopped_redis_started_again_waits_for_its_address_and_passes(redis, inventory):
    """A stopped container started again already has its settings: redis-server must not bind before dockstack has
    given eth0 the container's address (it would fail `Cannot assign requested address` and end the container)."""
    ssh(inventory, redis.host, f"docker stop --time 30 {redis.name}")
    out = run_inv("start", f"--name={redis.name}", f"--containers-file={SHIPPED}").stdout
    assert f"{redis.name}: done" in out, out
    rows = {r["name"]: r for r in json.loads(run_inv("status", "--json", f"--containers-file={SHIPPED}").stdout)}
    assert rows[redis.name]["health"] == "pass", rows[redis.name]
    logs = ssh(inventory, redis.host, f"docker logs --since 60s {redis.name} 2>&1").stdout
    assert "Cannot assign requested address" not in logs, logs[-2000:]
