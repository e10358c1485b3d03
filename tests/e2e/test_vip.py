"""The virtual IP in the lab: keepalived in two haproxy containers on different hosts holds it on exactly one,
it is reserved in dnsmasq (never leased, answered as vip.DOMAIN), a TCP client through it reaches a balanced
backend, and it moves within 5 s when its holder stops, without split brain when that holder returns.

The stack is the shipped file's dnsmasq and haproxy roles (with its vip) plus a test backend with a real listener
and a client container, in a file of this module's own (so the test deploys five containers, not the whole stack).
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dockstack import lab
from dockstack.config import DEFAULT_CONTAINERS_FILE, Inventory
from dockstack.services import SERVICE_ROOT

from .helpers import book_files, docker_exec, holders, run_inv, ssh, wipe_stack

LAB = "main"
FAILOVER_BOUND = 5.0  # seconds: the bound for the VIP to move
PORT = 8080
# A real listener for the balanced test service: haproxy answering every HTTP request itself.
BACKEND_CFG = ("defaults\\n  mode http\\n  timeout client 5s\\n  timeout connect 5s\\n  timeout server 5s\\n"
               f"frontend echo\\n  bind *:{PORT}\\n"
               "  http-request return status 200 content-type text/plain string echo-backend\\n")
# On a lab host: wait until container $1's eth0 holds $2 (at most $3 s), print when (this machine's clock:
# the lab hosts are namespaces of it).
POLL_SCRIPT = r"""
pid=$(docker container inspect --format '{{.State.Pid}}' "$1") || exit 2
echo polling
end=$(( $(date +%s) + $3 ))
until nsenter -t "$pid" -n ip -o -4 addr show dev eth0 | grep -qF " inet $2/"; do
  [ "$(date +%s)" -lt "$end" ] || { echo timeout; exit 1; }
  sleep 0.05
done
echo "held $(date +%s.%N)"
"""
# On a lab host: for $3 s, every 0.1 s, whether container $1's eth0 holds $2.
WATCH_SCRIPT = r"""
pid=$(docker container inspect --format '{{.State.Pid}}' "$1") || exit 2
end=$(( $(date +%s) + $3 ))
while [ "$(date +%s)" -lt "$end" ]; do
  if nsenter -t "$pid" -n ip -o -4 addr show dev eth0 | grep -qF " inet $2/"; then echo held; else echo free; fi
  sleep 0.1
done
"""


def vip_stack_file(tmp_path: Path) -> tuple[Path, dict]:
    """The shipped dnsmasq and haproxy roles and containers, a balanced backend and a client."""
    shipped = yaml.safe_load(DEFAULT_CONTAINERS_FILE.read_text())
    roles = [r for r in shipped["roles"] if r["name"] in ("dnsmasq", "haproxy")]
    haproxy = next(r for r in roles if r["name"] == "haproxy")
    vip = haproxy["vip"]
    # as the shipped check: ready when both run and the VIP answers, here on the test's balanced port
    answers = f"timeout 1 bash -c 'exec 3<>/dev/tcp/{vip['ip']}/{PORT}'"
    haproxy["check"] = f"pgrep -x haproxy && pgrep -x keepalived && {answers}"
    roles += [{"name": "echo", "check": f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{PORT}'", "check_timeout": 20,
               # TCP: haproxy's HTTP frontends speak HTTPS only, and the client sends plain HTTP by bash /dev/tcp
               "balance": [{"name": "echo", "port": PORT, "mode": "tcp"}]},
              {"name": "client", "depends_on": ["dnsmasq"]}]
    containers = [c for c in shipped["containers"] if c["role"] in ("dnsmasq", "haproxy")]
    containers += [
        {"name": "echo", "role": "echo", "host": "host2", "image": "dockstack/haproxy:bookworm",
         "command": ["sh", "-c", f"printf '{BACKEND_CFG}' > /tmp/echo.cfg && exec haproxy -db -f /tmp/echo.cfg"]},
        {"name": "client", "role": "client", "host": "host2", "image": "dockstack/base:bookworm"}]
    path = tmp_path / "vip.yaml"
    used = {c["image"] for c in containers}  # only these are on the hosts (the engine stack's images)
    images = {tag: recipe for tag, recipe in shipped["images"].items() if tag in used}
    path.write_text(yaml.safe_dump({"images": images, "roles": roles, "containers": containers},
                                   sort_keys=False))
    return path, vip


@pytest.fixture(scope="module")
def vip_stack(inventory: Inventory, remotes, tmp_path_factory) -> Iterator[tuple[Path, dict, dict[str, str]]]:
    """(containers file, its vip, haproxy container -> host), deployed on empty hosts; wiped afterwards."""
    wipe_stack(remotes)
    path, vip = vip_stack_file(tmp_path_factory.mktemp("vip"))
    out = run_inv("deploy-all", f"--containers-file={path}").stdout
    assert "5 ok" in out, out
    hosts = {c["name"]: c["host"] for c in yaml.safe_load(path.read_text())["containers"] if c["role"] == "haproxy"}
    yield path, vip, hosts
    wipe_stack(remotes)


def wait_for_one_holder(inventory: Inventory, hosts: dict[str, str], ip: str, bound: float = 15) -> str:
    """The one container holding the VIP, polled until there is exactly one (at most `bound` seconds)."""
    end = time.monotonic() + bound
    while True:
        now = holders(inventory, hosts, ip)
        if len(now) == 1 or time.monotonic() > end:
            assert len(now) == 1, f"holders of {ip} after {bound}s: {now}"
            return now[0]
        time.sleep(0.2)  # poll interval, bounded above


def through_vip(inventory: Inventory, vip: dict, bound: float = 15) -> str:
    """A TCP client (bash /dev/tcp, in the client container) through vip.DOMAIN to the balanced backend; tried
    until it answers, at most `bound` seconds (haproxy marks a new backend up after its first check)."""
    domain = inventory.network.domain
    ask = (f"exec 3<>/dev/tcp/{vip['name']}.{domain}/{PORT} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 "
           "&& cat <&3")
    end = time.monotonic() + bound
    while True:
        proc = ssh(inventory, "host2", f"docker exec client timeout 3 bash -c {shlex.quote(ask)}", check=False)
        if "echo-backend" in proc.stdout or time.monotonic() > end:
            assert "echo-backend" in proc.stdout, (proc.stdout, proc.stderr)
            return proc.stdout
        time.sleep(0.2)  # poll interval, bounded above


def ssh_argv(inventory: Inventory, host: str, script: str, *args: str) -> list[str]:
    spec = inventory.lab
    assert spec is not None
    remote = " ".join(["sh", "-c", shlex.quote(script), "sh", *map(shlex.quote, args)])
    return ["ssh", "-i", str(lab.key_file(spec)), "-o", f"UserKnownHostsFile={lab.known_hosts_file(spec)}",
            "-o", "BatchMode=yes", f"root@{inventory.host(host).address}", remote]


def failover(inventory: Inventory, hosts: dict[str, str], ip: str, stop: str) -> tuple[str, str, float]:
    """Run `stop` (a shell command on the holder's host, {name} filled in) against the holder and measure how long
    until the other container holds the VIP: (old holder, new holder, seconds)."""
    old = wait_for_one_holder(inventory, hosts, ip)
    new = next(n for n in hosts if n != old)
    poller = subprocess.Popen(ssh_argv(inventory, hosts[new], POLL_SCRIPT, new, ip, "20"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert poller.stdout is not None
    assert poller.stdout.readline().strip() == "polling"
    start = time.time()
    ssh(inventory, hosts[old], stop.format(name=old))
    out, err = poller.communicate(timeout=60)
    assert out.startswith("held "), (out, err)
    return old, new, float(out.split()[1]) - start


def test_vip_is_reserved_named_and_listed(inventory, vip_stack):
    path, vip, hosts = vip_stack
    ip, name, domain = vip["ip"], vip["name"], inventory.network.domain
    book = book_files(inventory)
    assert f",{name},{ip}\n" in book["dhcp-hosts.d"]  # pinned to the VRRP MAC: dnsmasq never leases it
    assert f"{ip} {name}.{domain} {name}\n" in book["hosts.d"]
    leases = ssh(inventory, "host1", f"cat {SERVICE_ROOT}/dnsmasq/dnsmasq/lease/leases").stdout
    assert f" {ip} " not in leases and leases.strip()  # the containers' leases are there, the VIP's is not
    for host, container in (("host2", "client"), ("host1", "dnsmasq")):
        assert docker_exec(inventory, host, container, f"getent hosts {name}.{domain}").split()[0] == ip
    holder = wait_for_one_holder(inventory, hosts, ip)
    rows = run_inv("ipam.show", f"--containers-file={path}").stdout.splitlines()
    row = next(r.split() for r in rows if r.startswith(f"{name} "))
    assert row == [name, "haproxy", hosts[holder], "00:00:5e:00:01:33", ip, f"{name}.{domain}", "vip", "held",
                   "by", holder], rows


def test_vip_held_by_exactly_one_and_password_kept_secret(inventory, vip_stack):
    path, vip, hosts = vip_stack
    holder = wait_for_one_holder(inventory, hosts, vip["ip"])
    assert holders(inventory, hosts, vip["ip"]) == [holder]
    through_vip(inventory, vip)
    for name, host in hosts.items():
        conf = f"{SERVICE_ROOT}/haproxy/{name}/keepalived.conf"
        assert ssh(inventory, host, f"stat -c %a {conf}").stdout.strip() == "600"
        assert f"auth_pass {vip['password']}" in ssh(inventory, host, f"cat {conf}").stdout
        inspect = ssh(inventory, host, f"docker container inspect {name}").stdout
        assert vip["password"] not in inspect  # not in labels, env or command
        assert docker_exec(inventory, host, name, "pgrep -x keepalived").split()  # beside haproxy, in each
    for args in (("deploy-all", "--dry-run"), ("ipam.show", "--json"), ("status",)):
        assert vip["password"] not in run_inv(*args, f"--containers-file={path}").stdout


def test_failover_within_5s_and_no_split_brain_after_restart(inventory, vip_stack):
    path, vip, hosts = vip_stack
    ip = vip["ip"]
    assert "echo-backend" in through_vip(inventory, vip)
    old, new, took = failover(inventory, hosts, ip, "docker stop {name}")
    print(f"\nVIP failover after `docker stop {old}`: {new} held {ip} after {took:.2f}s")
    assert took < FAILOVER_BOUND
    # its supervisor held new connections back and let the open ones end (none here) before keepalived stopped
    stopped = ssh(inventory, hosts[old], f"docker logs --tail 20 {old} 2>&1").stdout
    assert "supervise: handing the VIP over, 0 connection(s) still open after " in stopped, stopped
    assert holders(inventory, {new: hosts[new]}, ip) == [new]
    through_vip(inventory, vip, bound=5)  # a new connection through the VIP reaches the backend again
    # the old holder comes back: it stays BACKUP (nopreempt), checked on both for the whole time it could take
    # the VIP (3 missed adverts plus skew, with margin)
    since = ssh(inventory, hosts[old], "date +%s").stdout.strip()
    run_inv("start", f"--name={old}", f"--containers-file={path}")
    watchers = {n: subprocess.Popen(ssh_argv(inventory, h, WATCH_SCRIPT, n, ip, "6"), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for n, h in hosts.items()}
    seen = {n: p.communicate(timeout=60)[0].split() for n, p in watchers.items()}
    assert seen[old] and set(seen[old]) == {"free"}, seen
    assert seen[new] and set(seen[new]) == {"held"}, seen
    log = ssh(inventory, hosts[old], f"docker logs --since {since} {old} 2>&1").stdout
    assert "Entering BACKUP STATE" in log and "Entering MASTER STATE" not in log, log
    assert holders(inventory, hosts, ip) == [new]
    through_vip(inventory, vip, bound=5)


def test_a_dead_haproxy_ends_its_container_and_moves_the_vip(inventory, vip_stack):
    path, vip, hosts = vip_stack
    old, new, took = failover(inventory, hosts, vip["ip"], "docker exec {name} pkill -x haproxy")
    print(f"\nVIP failover after haproxy died in {old}: {new} held {vip['ip']} after {took:.2f}s")
    assert took < FAILOVER_BOUND
    through_vip(inventory, vip, bound=5)
    # the VIP moves on keepalived's goodbye advert; the container ends a moment later, when its supervisor has
    # stopped keepalived: asked until status says so, at most 15 s
    end = time.monotonic() + 15
    while True:
        status = run_inv("status", f"--containers-file={path}").stdout
        state = next(r for r in status.splitlines() if r.startswith(f"{old} ")).split()[3]
        if state == "stopped" or time.monotonic() > end:
            assert state == "stopped", status
            break
        time.sleep(0.5)  # poll interval, bounded above
    out = run_inv("deploy-all", f"--containers-file={path}").stdout  # starts it again, its check passes
    assert f"{old}: start" in out and "0 failed" in out, out
    assert wait_for_one_holder(inventory, hosts, vip["ip"]) == new  # and it did not take the VIP back


def test_a_killed_holder_loses_the_vip_after_three_missed_adverts(inventory, vip_stack):
    """SIGKILL leaves keepalived no time to say goodbye: the peer waits out the master-down interval
    (3 adverts of 1 s plus skew), still within the bound."""
    path, vip, hosts = vip_stack
    old, new, took = failover(inventory, hosts, vip["ip"], "docker kill {name}")
    print(f"\nVIP failover after `docker kill {old}`: {new} held {vip['ip']} after {took:.2f}s")
    assert took < FAILOVER_BOUND
    through_vip(inventory, vip, bound=5)
    out = run_inv("deploy-all", f"--containers-file={path}").stdout
    assert f"{old}: start" in out and "0 failed" in out, out
    assert wait_for_one_holder(inventory, hosts, vip["ip"]) == new


def test_a_changed_vrrp_password_is_pushed_checked_and_reloaded_in_place(inventory, vip_stack, tmp_path):
    """keepalived.conf travels like haproxy.cfg: only when it changed, checked with `keepalived -t` in the running
    container, then keepalived re-reads it (SIGHUP through the supervisor); no container is recreated."""
    path, vip, hosts = vip_stack
    data = yaml.safe_load(path.read_text())
    new_password = "vrrp+new"
    next(r for r in data["roles"] if r["name"] == "haproxy")["vip"]["password"] = new_password
    changed = tmp_path / "vip-new-password.yaml"
    changed.write_text(yaml.safe_dump(data, sort_keys=False))
    def started_at(name: str) -> str:
        return ssh(inventory, hosts[name], f"docker inspect -f '{{{{.State.StartedAt}}}}' {name}").stdout

    started = {n: started_at(n) for n in hosts}
    out = run_inv("deploy-all", f"--containers-file={changed}").stdout
    for name in hosts:
        assert f"  {name}: keepalived.conf updated, validated and reloaded" in out, out
        assert f"  {name}: ok, running" in out, out
    assert new_password not in out and vip["password"] not in out
    for name, host in hosts.items():
        conf = ssh(inventory, host, f"cat {SERVICE_ROOT}/haproxy/{name}/keepalived.conf").stdout
        assert f"auth_pass {new_password}\n" in conf
        assert started_at(name) == started[name]
        assert "Reloading" in ssh(inventory, host, f"docker logs {name} 2>&1").stdout
    wait_for_one_holder(inventory, hosts, vip["ip"])
    through_vip(inventory, vip, bound=5)
    assert "keepalived.conf updated" not in run_inv("deploy-all", f"--containers-file={changed}").stdout  # once


def test_adding_a_vip_recreates_haproxy_and_never_pushes_keepalived_into_the_old_container(inventory, vip_stack,
                                                                                            tmp_path):
    """An operator upgrading from a haproxy without a VIP: the old containers lack keepalived's privileges (and
    could lack keepalived), so they are recreated with their new files; nothing is pushed into them first."""
    path, vip, hosts = vip_stack
    data = yaml.safe_load(path.read_text())
    haproxy = next(r for r in data["roles"] if r["name"] == "haproxy")
    del haproxy["vip"]
    haproxy["check"] = "pgrep -x haproxy"
    plain = tmp_path / "no-vip.yaml"
    plain.write_text(yaml.safe_dump(data, sort_keys=False))
    out = run_inv("deploy-all", f"--containers-file={plain}").stdout
    assert all(f"  {n}: recreate (" in out for n in hosts), out
    assert not holders(inventory, hosts, vip["ip"])

    out = run_inv("deploy-all", f"--containers-file={path}").stdout  # the VIP comes back with the new containers
    assert "0 failed" in out and all(f"  {n}: recreate (" in out for n in hosts), out
    assert "updated, validated" not in out, out  # no push: the files came with each recreate
    wait_for_one_holder(inventory, hosts, vip["ip"])
