"""Least privilege on the shipped stack (issue 18), probed as an attacker inside a container would find it, and
values that would break out of where they go, refused before any host is touched.

Runs on the stack shipped_from_empty deployed (REAL_STACK_MODULES), reading it and changing nothing.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess
import time
import uuid

import pytest
import yaml

from dockstack.config import DEFAULT_CONTAINERS_FILE, Stack, secrets_file_for, tls
from dockstack.config.tls import tls_dir_for
from dockstack.services import SERVICE_ROOT
from dockstack.services import openstack as openstack_service
from dockstack.services import puppet as puppet_service

from .helpers import Deployed, agent_run, holders, puppet_server, run_inv, shipped_variant, ssh

LAB = "main"
# the suite's default containers file is the engine stack's (conftest): every inv here names the shipped one
SHIPPED_FILE = f"--containers-file={DEFAULT_CONTAINERS_FILE}"
CAP_NET_RAW = 13  # linux/capability.h
# the services whose definitions ask for NET_RAW: keepalived sends VRRP adverts on a raw socket
NEEDS_NET_RAW = {"haproxy"}


@pytest.fixture(scope="module")
def stack(shipped_from_empty: Deployed) -> Stack:
    assert "0 failed" in shipped_from_empty.out, shipped_from_empty.out
    return shipped_from_empty.stack


def pid1_status(inventory, host: str, name: str) -> dict[str, str]:
    """/proc/PID/status of a container's PID 1, read on its host."""
    out = ssh(inventory, host, f"cat /proc/$(docker container inspect --format '{{{{.State.Pid}}}}' {name})/status")
    return dict(line.split(":\t", 1) for line in out.stdout.splitlines() if ":\t" in line)


def containers_on_hosts(inventory) -> dict[str, str]:
    """host -> every container there, with its ID and whether it runs: what a change would alter."""
    return {h.name: ssh(inventory, h.name, "docker ps -a --no-trunc --format '{{.Names}} {{.ID}} {{.State}}' "
                                           "| sort").stdout for h in inventory.hosts}


# On a lab host: every process of every container that does not run as root, with its environment (host root
# reads any /proc/PID/environ): `NAME PID UID ENV...`, the env's NULs as spaces.
NON_ROOT_ENVIRONS = r"""
for c in $(docker ps --format '{{.Names}}'); do
  docker top "$c" -eo pid,uid | awk 'NR > 1 && $2 != 0 { print $1, $2 }' | while read -r pid uid; do
    printf '%s %s %s ' "$c" "$pid" "$uid"
    tr '\0' ' ' < "/proc/$pid/environ" 2>/dev/null
    echo
  done
done
"""


def test_no_process_but_root_holds_a_secret_in_its_environment(stack, inventory):
    """Each service starts with a cleared environment and reads its secrets from its own files: no non-root
    process of any container (glance, rabbitmq, mariadbd...) holds the root password or another service's."""
    secrets = stack.secret_values
    assert secrets  # the shipped stack's generated passwords
    seen = 0
    for h in inventory.hosts:
        for line in ssh(inventory, h.name, NON_ROOT_ENVIRONS).stdout.splitlines():
            name, pid, uid, env = [*line.split(" ", 3), ""][:4]
            seen += 1
            held = [s for s in secrets if s in env]
            assert not held, f"{name}: process {pid} (uid {uid}) holds {len(held)} secret value(s) in its " \
                f"environment: {stack.mask(env)[:300]}"
    assert seen > 20, seen  # the services' own processes were looked at (mariadbd, glance, rabbitmq, ...)


def test_no_application_container_can_open_a_raw_socket_or_gain_privileges(stack, inventory):
    """NET_RAW (ARP spoofing, forged DHCP and VRRP) only where the definition asks for it (keepalived); no process
    of any container gains privileges (no-new-privileges)."""
    for c in stack.containers:
        status = pid1_status(inventory, c.host, c.name)
        raw = bool(int(status["CapEff"], 16) >> CAP_NET_RAW & 1)
        wanted = c.service in NEEDS_NET_RAW and c.vip is not None
        assert raw == wanted, f"{c.name} ({c.service}): NET_RAW {'held' if raw else 'missing'}: {status['CapEff']}"
        assert int(status["CapBnd"], 16) >> CAP_NET_RAW & 1 == wanted, c.name  # nor can a child get it back
        assert status["NoNewPrivs"].strip() == "1", c.name


def test_a_one_character_container_name_is_refused_as_the_docker_daemon_refuses_it(stack, inventory, tmp_path):
    """Validation follows Docker's rule for names: what it refuses, the daemon refuses too (`docker run` exited 125
    mid-deploy before); the shortest name it takes, the daemon takes."""
    image = stack.container("dnsmasq").image
    daemon = ssh(inventory, "host1", f"docker create --name a {image} true", check=False)
    assert daemon.returncode != 0 and "Invalid container name" in daemon.stderr, daemon.stderr
    taken = ssh(inventory, "host1", f"docker create --name ab {image} true && docker rm ab", check=False)
    assert taken.returncode == 0, taken.stderr

    def one_character(data: dict) -> None:
        data["containers"][-1]["name"] = "a"

    bad = shipped_variant(tmp_path, one_character)
    before = containers_on_hosts(inventory)
    refused = run_inv("deploy-all", "--dry-run", f"--containers-file={bad}", check=False)
    assert refused.returncode == 1, refused.stdout
    last = len(yaml.safe_load(bad.read_text())["containers"]) - 1
    assert f"error: {bad}: containers[{last}].name: 'a' is too short for a container name" in refused.stderr, \
        refused.stderr
    assert "Traceback" not in refused.stderr
    assert containers_on_hosts(inventory) == before


def test_a_galera_password_with_a_quote_is_refused_before_any_host_is_touched(stack, inventory, tmp_path):
    """An env override of a generated secret reaches SQL and config files: one that is not letters and digits is
    refused naming the file and key (never the value), and no host changes."""
    value = "it's-a-password-of-24-chars"

    def quoted(data: dict) -> None:
        for c in data["containers"]:
            if c["role"] == "galera":
                c["env"] = {**c.get("env", {}), "MYSQL_ROOT_PASSWORD": value}

    bad = shipped_variant(tmp_path, quoted)
    before = containers_on_hosts(inventory)
    refused = run_inv("deploy-all", f"--containers-file={bad}", check=False)
    assert refused.returncode == 1, refused.stdout
    assert f"error: {bad}: containers[" in refused.stderr and \
        ".env.MYSQL_ROOT_PASSWORD: the secret value is not 24-128 letters and digits" in refused.stderr, \
        refused.stderr
    assert value not in refused.stderr + refused.stdout and "Traceback" not in refused.stderr
    assert containers_on_hosts(inventory) == before


def test_a_forged_registry_file_name_does_not_reach_dnsmasqs_files(stack, inventory):
    """The dnsmasq container can no longer write its registry (its folder is read-only to it); planted there all the
    same (on the host: whatever else might write it), a registry file whose name holds a newline and a record line
    (the facts printed it as a line of its own), and a file holding another name's line, forge no address in any
    copy of the address book, nor in what dnsmasq serves."""
    dns = stack.container("dnsmasq")
    forged = "10.100.0.66"
    name = f"x\ndnsmasq file evil evil galera host1 02:42:0a:64:00:66 {forged} static"
    inside = ssh(inventory, dns.host, f"docker exec {dns.name} touch /var/lib/dockstack/registry/x", check=False)
    assert inside.returncode != 0 and "Read-only file system" in inside.stderr, inside.stderr
    registry = f"{SERVICE_ROOT}/dnsmasq/{dns.name}/registry"
    plant = ('printf "%s\\n" "$3" > "$1/$2" && '
             'printf "evil2 galera host1 02:42:0a:64:00:67 10.100.0.67 static\\n" > "$1/zz"')
    ssh(inventory, dns.host, f"sh -c {shlex.quote(plant)} sh {registry} {shlex.quote(name)} "
                             f"'evil galera host1 02:42:0a:64:00:66 {forged} static'")
    try:
        out = run_inv("deploy-all", SHIPPED_FILE).stdout
        assert "0 failed" in out, out
        # zz is named as no record it holds: damaged, and left alone; the VIP's record (host "-") is intact
        assert "registry/zz is damaged" in out and "registry/vip is damaged" not in out, out
        for h in inventory.hosts:
            every_copy = ssh(inventory, h.name, f"cat {SERVICE_ROOT}/addressbook/*/* {SERVICE_ROOT}/dnsmasq/*/*.d/* "
                                                "2>/dev/null", check=False).stdout
            assert forged not in every_copy and "10.100.0.67" not in every_copy, (h.name, every_copy)
        names = {r["name"] for r in json.loads(run_inv("ipam.show", "--json", SHIPPED_FILE).stdout)}
        assert not names & {"evil", "evil2"}, names
        for evil in ("evil", "evil2"):
            answer = ssh(inventory, dns.host, f"docker exec {dns.name} getent hosts {evil}.dockstack.lab",
                         check=False)
            assert answer.returncode != 0 and forged not in answer.stdout, answer.stdout
    finally:
        ssh(inventory, dns.host, f"rm -f {registry}/zz {registry}/x*")


ROGUE = "dsr-rogue"  # a namespace of this test's own on the lab's underlay bridge: no stack host
# On this machine: ROGUE with an address on the underlay (veth on the lab's bridge) and a VXLAN device of the stack's
# VNI and port towards one host, holding an address of the container subnet. Arguments: BRIDGE UNDERLAY_CIDR VNI
# PORT HOST_ADDRESS SEGMENT_CIDR.
ROGUE_UP = r"""
set -e
ip netns add "$ROGUE"
ip link add "$ROGUE-u" type veth peer name eth0 netns "$ROGUE"
ip link set "$ROGUE-u" master "$1" up
ip -n "$ROGUE" addr add "$2" dev eth0
ip -n "$ROGUE" link set eth0 up
ip -n "$ROGUE" link add vx type vxlan id "$3" local "${2%/*}" dstport "$4" remote "$5"
ip -n "$ROGUE" addr add "$6" dev vx
ip -n "$ROGUE" link set vx up
"""


def dropped(inventory, host: str) -> int:
    """Packets the host's VXLAN filter dropped so far."""
    rules = ssh(inventory, host, "iptables -w -L DOCKSTACK-VXLAN -v -x -n").stdout.splitlines()
    return sum(int(r.split()[0]) for r in rules if " DROP " in f" {r} ")


def test_a_vxlan_endpoint_that_is_no_stack_host_cannot_reach_the_segment(stack, inventory):
    """The VXLAN device takes frames from anyone who reaches a host's underlay address: a filter lets only the
    stack's hosts send. A rogue endpoint on the lab's underlay, with the stack's VNI, cannot open a connection to
    dnsmasq's DNS port, and the host's filter counts its packets dropped."""
    spec, net = inventory.lab, inventory.network
    assert spec is not None
    target = stack.container("dnsmasq")
    host = inventory.host(target.host)
    underlay = ipaddress.IPv4Interface(f"{spec.gateway.network.network_address + 99}/{spec.gateway.network.prefixlen}")
    assert str(underlay.ip) not in {h.address for h in inventory.hosts}
    segment = f"{net.subnet.network_address + 250}/{net.subnet.prefixlen}"
    subprocess.run(["ip", "netns", "del", ROGUE], capture_output=True)  # a run stopped half-way left it
    try:
        up = subprocess.run(["sh", "-c", ROGUE_UP, "sh", spec.bridge, str(underlay), str(net.vxlan_id),
                             str(net.vxlan_port), host.address, segment], capture_output=True, text=True,
                            env={"ROGUE": ROGUE, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        assert up.returncode == 0, up.stderr
        before = dropped(inventory, host.name)
        reach = subprocess.run(["nsenter", f"--net=/run/netns/{ROGUE}", "timeout", "5", "bash", "-c",
                                'exec 3<>"/dev/tcp/$1/53"', "bash", str(target.ip)], capture_output=True, text=True)
        assert reach.returncode != 0, f"the rogue endpoint reached {target.name} ({target.ip}) over VXLAN"
        assert dropped(inventory, host.name) > before  # its frames arrived, and the filter dropped them
    finally:
        subprocess.run(["ip", "netns", "del", ROGUE], capture_output=True)
    # a host that lost its filter gets it back from the next deploy-all, with no container to change
    jump = f"INPUT -p udp -m udp --dport {net.vxlan_port} -j DOCKSTACK-VXLAN"
    ssh(inventory, host.name, f"iptables -w -D {jump}")
    out = run_inv("deploy-all", SHIPPED_FILE).stdout
    assert f"{host.name}: container network set up (VXLAN filter" in out and " 0 changed, 0 failed" in out, out
    assert f"-A {jump}" in ssh(inventory, host.name, "iptables -w -S INPUT").stdout


# A VRRP speaker of the test's own on a stack host's segment bridge, in a container with the raw socket keepalived
# needs (no stack container has one but the haproxy pair): the haproxy image's keepalived, the stack's router id and
# password, priority 254 (above any of the stack's), claiming an address of its own. Arguments: NAME IMAGE BRIDGE CIDR
# CONF. Prints nothing; fails naming the step.
VRRP_ROGUE_UP = r"""
set -e
docker rm -f "$1" >/dev/null 2>&1 || true
docker run -d --name "$1" --network none --cap-add NET_ADMIN --cap-add NET_RAW --entrypoint bash "$2" -c '
  until ip -4 -o addr show dev eth0 2>/dev/null | grep -q " inet "; do sleep 0.2; done
  printf "%s\n" "$1" > /tmp/rogue.conf
  exec keepalived -P -n -l -D -f /tmp/rogue.conf -p /tmp/k.pid -r /tmp/kv.pid' sh "$5" >/dev/null
pid=$(docker container inspect --format '{{.State.Pid}}' "$1")
ip link del "$1-h" 2>/dev/null || true
ip link add "$1-h" type veth peer name "$1-c"
ip link set "$1-c" netns "$pid"
nsenter -t "$pid" -n ip link set "$1-c" name eth0
nsenter -t "$pid" -n ip addr add "$4" dev eth0
nsenter -t "$pid" -n ip link set eth0 up
ip link set "$1-h" master "$3" up
"""
ROGUE_VRRP_CONF = """vrrp_instance rogue {{
    state MASTER
    interface eth0
    virtual_router_id {router_id}
    priority 254
    advert_int 1
{unicast}
    authentication {{
        auth_type PASS
        auth_pass {password}
    }}
    virtual_ipaddress {{
        {claim}/{prefixlen} dev eth0
    }}
}}
"""


def test_a_rogue_vrrp_speaker_with_the_password_cannot_take_the_vip(stack, inventory):
    """Two VRRP speakers on the segment with the right router id and password and a higher priority than any of
    the stack's: one multicasting its adverts, one sending them straight to the haproxy pair's addresses. Each of
    them runs as MASTER, sending adverts, for 6 s; the VIP stays on the container that held it, which stays MASTER,
    and its peer never takes over: keepalived hears its peers' static addresses only, and a filter in the container
    drops the others' VRRP before keepalived reads it (keepalived 2.2.7 restarts its advert timer for every advert it
    reads, even one it then drops: a rogue's adverts silenced the holder, and the peer took the VIP)."""
    role = stack.role("haproxy")
    vip, net = role.vip, inventory.network
    assert vip is not None
    pair = list(stack.of_role("haproxy"))
    by_name = {c.name: c.host for c in pair}
    holder = holders(inventory, by_name, str(vip.ip))
    assert len(holder) == 1, holder
    host = pair[-1].host  # the rogues sit on a stack host's bridge, beside a haproxy container
    image = pair[-1].image
    rogues = {"dsr-vrrp-m": ("", 249), "dsr-vrrp-u": (
        "    unicast_peer {\n" + "".join(f"        {c.ip}\n" for c in pair) + "    }", 248)}
    try:
        for i, (name, (unicast, claim)) in enumerate(rogues.items()):
            conf = ROGUE_VRRP_CONF.format(router_id=vip.router_id, unicast=unicast, password=vip.password,
                                          claim=net.subnet.network_address + claim, prefixlen=net.subnet.prefixlen)
            cidr = f"{net.subnet.network_address + 246 + i}/{net.subnet.prefixlen}"
            up = ssh(inventory, host, shlex.join(["sh", "-c", VRRP_ROGUE_UP, "sh", name, image, net.bridge, cidr,
                                                  conf]), check=False)
            assert up.returncode == 0, up.stdout + up.stderr
        # each rogue believes it is MASTER: it sends its adverts (priority 254) every second from now on
        deadline = time.monotonic() + 20
        for name in rogues:
            while "Entering MASTER STATE" not in ssh(inventory, host, f"docker logs {name} 2>&1").stdout:
                assert time.monotonic() < deadline, ssh(inventory, host, f"docker logs {name} 2>&1").stdout
        watched_until = time.monotonic() + 6
        while time.monotonic() < watched_until:
            now = holders(inventory, by_name, str(vip.ip))
            if now != holder:  # what each keepalived said, so a lost VIP names its cause
                said = {n: ssh(inventory, h, f"docker logs --since 60s {n} 2>&1", check=False).stdout[-3000:]
                        for n, h in {**by_name, **{r: host for r in rogues}}.items()}
                raise AssertionError(f"the VIP moved from {holder} to {now} while the rogues spoke: {said}")
        logs = ssh(inventory, by_name[holder[0]], f"docker logs --since 30s {holder[0]} 2>&1").stdout
        assert "Entering BACKUP STATE" not in logs, logs[-2000:]
        (peer,) = set(by_name) - set(holder)
        logs = ssh(inventory, by_name[peer], f"docker logs --since 30s {peer} 2>&1").stdout
        assert "Entering MASTER STATE" not in logs, logs[-2000:]  # it kept hearing the holder's adverts
    finally:
        for name in rogues:
            ssh(inventory, host, f"docker rm -f {name}", check=False)


def test_mariadb_root_answers_on_a_nodes_local_socket_only(stack, inventory):
    """MariaDB's root, with the right password, from another container is refused, through the VIP and straight
    at a node; the openstack supervisor's own account (its migration record's) may not read MariaDB's own tables;
    root over a node's local socket still works. (tests/e2e/test_attacker_secrets.py tries every password the
    openstack container holds against every account.)"""
    secrets = yaml.safe_load(secrets_file_for(DEFAULT_CONTAINERS_FILE).read_text())
    client, node = stack.container("openstack"), stack.of_role("galera")[0]
    vip = stack.role("haproxy").vip
    assert vip is not None

    def mariadb(user: str, password: str, server: str, query: str) -> subprocess.CompletedProcess[str]:
        # --no-defaults: not the container's /root/.my.cnf, whose password would win over MYSQL_PWD
        return ssh(inventory, client.host, shlex.join(["docker", "exec", "-e", f"MYSQL_PWD={password}", client.name,
                                                       "mariadb", "--no-defaults", "-h", server, "-u", user, "-N",
                                                       "-B", "-e", query]), check=False)

    for server in (f"{vip.name}.{inventory.network.domain}", f"{node.name}.{inventory.network.domain}"):
        got = mariadb("root", secrets["galera_root_password"], server, "SELECT 1")
        assert got.returncode != 0 and "Access denied for user 'root'" in got.stderr, (server, got)
    record = secrets[openstack_service.RECORD_PASSWORD[0]]
    assert mariadb(openstack_service.RECORD_USER, record, vip.name, "SELECT 1").stdout.strip() == "1"
    got = mariadb(openstack_service.RECORD_USER, record, vip.name, "SELECT COUNT(*) FROM mysql.user")
    assert got.returncode != 0 and "command denied" in got.stderr, got
    local = ssh(inventory, node.host, f"docker exec {node.name} mariadb -N -B -e 'SELECT CURRENT_USER()'").stdout
    assert local.strip() == "root@localhost"


def test_a_service_that_only_reads_its_folder_cannot_write_it(stack, inventory):
    """A definition whose service only reads its folder (supervisor, scripts, rendered config) gets it read-only:
    root in the container cannot change what its supervisor runs next; its data folders stay writable."""
    from dockstack.services.registry import definition

    checked = []
    for c in stack.containers:
        d = definition(c)
        if d is None or not d.read_only_mount:
            continue
        got = ssh(inventory, c.host, f"docker exec {c.name} touch {d.mount}/.dockstack-probe", check=False)
        assert got.returncode != 0 and "Read-only file system" in got.stderr, (c.name, got)
        for _, path in d.data:
            wrote = ssh(inventory, c.host, f"docker exec {c.name} sh -c 'touch {path}/.dockstack-probe && "
                                           f"rm {path}/.dockstack-probe'", check=False)
            assert wrote.returncode == 0, (c.name, path, wrote.stderr)
        checked.append(c.service)
    assert {"haproxy", "openstack", "redis", "zookeeper", "galera", "puppet", "dnsmasq"} <= set(checked), checked


def test_rabbitmq_and_its_erlang_node_listen_on_loopback_only(stack, inventory):
    """AMQP (5672), Erlang distribution (25672) and epmd (4369) are used from inside the openstack container only:
    none of them listens on an address the segment reaches."""
    c = stack.container("openstack")
    pid = ssh(inventory, c.host, f"docker container inspect --format '{{{{.State.Pid}}}}' {c.name}").stdout.strip()
    listening = ssh(inventory, c.host, f"nsenter -t {pid} -n ss -Hltn").stdout.split("\n")
    ports = {}
    for line in filter(None, listening):
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        ports.setdefault(port, set()).add(address)
    for port in ("5672", "25672", "4369"):
        assert port in ports, (port, listening)
        assert ports[port] <= {"127.0.0.1", "[::1]"}, (port, ports[port])


# In a galera container: a connection to the clustercheck port that sends nothing yet (the check then waits for the
# request line), and the user of the `sh .../clustercheck http` process answering it (not socat's listener, which
# binds the port as root), looked for until it shows.
CHECK_OWNER = r"""
(sleep 5 | socat - TCP:127.0.0.1:9200 >/dev/null) &
for _ in $(seq 50); do
  owner=$(ps -eo user=,args= | awk '$2 == "sh" && $3 ~ /clustercheck$/ && $4 == "http" { print $1; exit }')
  [ -n "$owner" ] && break
  sleep 0.1
done
echo "owner=$owner"
"""


def test_the_clustercheck_on_the_segment_answers_as_nobody(stack, inventory):
    """haproxy's clustercheck (port 9200, reachable from the segment) runs as nobody, MariaDB's nobody@localhost
    with no privilege, and still answers 200 for a Synced node."""
    node = stack.of_role("galera")[0]
    got = ssh(inventory, node.host, f"docker exec {node.name} sh -c {shlex.quote(CHECK_OWNER)}").stdout
    assert "owner=nobody" in got, got
    answer = ssh(inventory, node.host, f"docker exec {node.name} sh -c "
                 + shlex.quote("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | socat - TCP:127.0.0.1:9200")).stdout
    assert answer.startswith("HTTP/1.1 200 OK") and "Synced" in answer, answer
    grants = ssh(inventory, node.host, f"docker exec {node.name} mariadb -N -B -e "
                 + shlex.quote("SHOW GRANTS FOR 'nobody'@'localhost'")).stdout
    assert grants.startswith("GRANT USAGE ON *.* TO `nobody`@`localhost`"), grants


def test_haproxys_worker_runs_unprivileged(stack, inventory):
    """The haproxy process that handles the connections runs as the haproxy user; only its master stays root."""
    for c in stack.of_role("haproxy"):
        procs = ssh(inventory, c.host, f"docker exec {c.name} ps -eo user=,comm=").stdout.split("\n")
        users = [line.split()[0] for line in procs if line.split()[1:] == ["haproxy"]]
        assert "haproxy" in users and users.count("root") <= 1, (c.name, procs)


def test_a_symlink_the_dnsmasq_container_plants_never_redirects_a_root_write_on_the_host(stack, inventory):
    """The host's transaction script writes the address book in dnsmasq's folder as root (lock.holder, generation,
    registry/...): the container gets that folder read-only, so it cannot plant a symlink there; in lease/, the one
    folder it writes, a symlinked lease file is never followed. A canary file on the host stays as it was through
    `inv remove` and `inv create`, which both commit to the address book."""
    dns = stack.container("dnsmasq")
    canary_path, canary = f"/root/dockstack-canary-{uuid.uuid4().hex[:8]}", f"canary {uuid.uuid4().hex}\n"
    ssh(inventory, dns.host, f"printf %s {shlex.quote(canary)} > {canary_path}")
    lease = "/var/lib/dockstack/lease"
    try:
        for target in ("lock.holder", "lock", "generation", "released", "registry/webui", "hosts.d/webui"):
            planted = ssh(inventory, dns.host, f"docker exec {dns.name} ln -sfn {canary_path} "
                                               f"/var/lib/dockstack/{target}", check=False)
            assert planted.returncode != 0 and "Read-only file system" in planted.stderr, (target, planted)
        ssh(inventory, dns.host, f"docker exec {dns.name} sh -c 'mv {lease}/leases {lease}/leases.kept && "
                                 f"ln -s {canary_path} {lease}/leases'")
        out = run_inv("remove", "--name=webui", SHIPPED_FILE).stdout + run_inv("create", "--name=webui",
                                                                                SHIPPED_FILE).stdout
        assert "webui" in out, out
    finally:
        ssh(inventory, dns.host, f"docker exec {dns.name} sh -c 'if [ -f {lease}/leases.kept ]; then "
                                 f"rm -f {lease}/leases && mv {lease}/leases.kept {lease}/leases; fi'", check=False)
        left = ssh(inventory, dns.host, f"cat {canary_path}; rm -f {canary_path}").stdout
    assert left == canary, left


# A rogue Puppet server: Debian's puppetserver with a CA of its own, answering for the stack's server name (and
# localhost), signing every request and handing every node a catalog that leaves a mark.
# Called as: sh -c ROGUE_SERVER sh CERTNAME SITE_PP JAVA_ARG...
ROGUE_SERVER = r"""
name=$1 site=$2
shift 2
envs=/tmp/rogue/environments
mkdir -p "$envs/production/manifests" /run/puppetserver
rm -f /etc/puppet/puppet.conf
printf '[main]\ncertname = %s\ndns_alt_names = localhost,%s\nenvironmentpath = %s\n[server]\nautosign = true\n' \
  "$name" "$name" "$envs" > /etc/puppet/puppet.conf
printf '%s\n' "$site" > "$envs/production/manifests/site.pp"
exec java "$@" -jar /usr/share/puppetserver/puppetserver.jar --config /etc/puppet/puppetserver/conf.d \
  --bootstrap-config /etc/puppet/puppetserver/services.d
"""
ROGUE_PUPPET = "dockstack-test-rogue-puppet"
MARK = "/tmp/rogue-catalog-was-applied"


def test_a_rogue_puppet_server_gets_no_catalog_applied(stack, inventory):
    """A rogue server in an agent container's own network namespace (so `localhost` reaches it; as a server that
    took the name puppet.DOMAIN would be reached), with a CA of its own that signs everything: the agent as dockstack
    runs it, with the CA dockstack pins, refuses its certificate and applies nothing. The same rogue wins over an
    agent that trusts the CA a server offers (what agents did before the pin), so the probe is real."""
    victim = next(c for c in stack.containers if stack.asks_catalog(c) and c.host == puppet_server(stack).host)
    image = puppet_server(stack).image
    site = f"node default {{ file {{ '{MARK}': content => 'rogue' }} }}"
    run = ["docker", "run", "-d", "--name", ROGUE_PUPPET, f"--network=container:{victim.name}", image,
           "sh", "-c", ROGUE_SERVER, "sh", f"puppet.{inventory.network.domain}", site, *puppet_service.JAVA_ARGS]
    ssh(inventory, victim.host, f"docker rm --force {ROGUE_PUPPET} >/dev/null 2>&1; {shlex.join(run)}")
    try:
        deadline = time.monotonic() + 300
        status = ["docker", "exec", ROGUE_PUPPET, "curl", "-sfk", "https://127.0.0.1:8140/status/v1/simple"]
        while ssh(inventory, victim.host, shlex.join(status), check=False).stdout != "running":
            logs = ssh(inventory, victim.host, f"docker logs --tail 20 {ROGUE_PUPPET} 2>&1", check=False).stdout
            running = f"docker inspect --format '{{{{.State.Running}}}}' {ROGUE_PUPPET}"
            state = ssh(inventory, victim.host, running).stdout
            assert state.strip() == "true" and time.monotonic() < deadline, f"the rogue server did not start: {logs}"
            time.sleep(1)  # between probes of the rogue's status, bounded by the deadline above
        pinned = agent_run(inventory, stack, victim, server_name="localhost")  # as dockstack runs it
        assert not pinned.ok and any("certificate verify failed" in e for e in pinned.errors), pinned
        marked = ["docker", "exec", victim.name, "test", "-e", MARK]
        assert ssh(inventory, victim.host, shlex.join(marked), check=False).returncode != 0
        # the same rogue, trusted on first use as the agents did before: it signs the request, the catalog applies
        rogue_ca = ssh(inventory, victim.host, f"docker exec {ROGUE_PUPPET} cat {puppet_service.CA_FILE}").stdout
        trusting = agent_run(inventory, stack, victim, server_name="localhost",
                             ca=puppet_service.parse_ca(victim, rogue_ca), folder="/tmp/rogue-agent",
                             challenge="NotTheStacksChallenge0123")  # the stack's never goes to a rogue
        assert trusting.ok, trusting
        assert ssh(inventory, victim.host, shlex.join(marked), check=False).returncode == 0
    finally:
        ssh(inventory, victim.host, f"docker rm --force {ROGUE_PUPPET}; docker exec {victim.name} rm -rf {MARK} "
                                    "/tmp/rogue-agent", check=False)


def test_a_listed_name_without_its_challenge_is_not_signed(stack, inventory):
    """A request for a name on the autosign list (a real container's) that lacks the name's challenge is refused:
    the name holds its certificate, and the server signs no second one (nor keeps the request): knowing a name is
    not enough to be handed that container's catalog and secrets. (tests/e2e/test_attacker_puppet.py asks with an
    agent's own challenge, and in the window before a re-created container's agent asks.)"""
    s = puppet_server(stack)
    galera = stack.container("galera1")
    name = f"control.{inventory.network.domain}"
    ca_dir = "/etc/puppet/puppetserver/ca"

    def on_server(command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return ssh(inventory, s.host, f"docker exec {s.name} sh -c {shlex.quote(command)}", check=check)

    serial = f"openssl x509 -noout -serial -in {ca_dir}/signed/{name}.pem"
    before = on_server(serial).stdout
    cmd = ["docker", "exec", galera.name, "puppet", "agent", "--onetime", "--no-daemonize", "--waitforcert", "0",
           "--keylength", "2048", "--server", f"{s.name}.{inventory.network.domain}", "--certname", name,
           "--ssldir", "/tmp/nochallenge-ssl", "--http_keepalive_timeout", "0", "--logdest", "console"]
    try:
        proc = ssh(inventory, galera.host, shlex.join(cmd), check=False)
        said = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "Applied catalog" not in said, said  # no certificate of its own: no catalog
        # refused outright (a second request for a name that holds its certificate), not kept for an operator
        assert on_server(f"test -e {ca_dir}/requests/{name}.pem", check=False).returncode != 0, said
        assert on_server(serial).stdout == before  # control's own certificate stands
    finally:
        ssh(inventory, galera.host, f"docker exec {galera.name} rm -rf /tmp/nochallenge-ssl", check=False)
        on_server(f"rm -f {ca_dir}/requests/{name}.pem", check=False)


# In the openstack container: a client that trusts the stack's CA alone (standard input: its PEM) asks keystone through
# the VIP over HTTPS, then the same port over plain HTTP. Prints `https STATUS` and `http STATUS` or `http refused ...`.
TLS_PROBE = r"""
import ssl, sys, urllib.request
vip = sys.argv[1]
ctx = ssl.create_default_context(cadata=sys.stdin.read())
with urllib.request.urlopen(f"https://{vip}:5000/v3", context=ctx, timeout=20) as r:
    print("https", r.status, r.read().decode()[:200].replace("\n", " "))
try:
    with urllib.request.urlopen(f"http://{vip}:5000/v3", timeout=20) as r:
        print("http", r.status)
except Exception as exc:
    print("http refused", type(exc).__name__)
"""


def test_keystone_answers_verified_https_on_the_vip_and_plain_http_never_reaches_it(stack, inventory):
    """Probe 8: the CLI's `token issue` over HTTPS, verified (admin-openrc's OS_CACERT); a client that trusts only
    the operator's copy of the stack's CA verifies the VIP's certificate for its name; plain HTTP gets no answer."""
    c = stack.container("openstack")
    vip = stack.role("haproxy").vip
    assert vip is not None and stack.tls is not None
    vip_name = f"{vip.name}.{inventory.network.domain}"
    token = ssh(inventory, c.host, f"docker exec {c.name} bash -c "
                                   "'. /root/admin-openrc && openstack token issue -f value -c id'", check=False)
    assert token.returncode == 0 and token.stdout.startswith("gAAAAA"), token.stdout + token.stderr
    rc = ssh(inventory, c.host, f"docker exec {c.name} bash -c '. /root/admin-openrc && echo $OS_AUTH_URL'").stdout
    assert rc.strip() == f"https://{vip_name}:5000/v3"
    ca = (tls_dir_for(DEFAULT_CONTAINERS_FILE) / tls.CA_FILE).read_text()  # what the operator hands clients
    out = ssh(inventory, c.host, f"docker exec -i {c.name} python3 -c {shlex.quote(TLS_PROBE)} {vip_name}",
              stdin=ca, check=False)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and lines[0].startswith("https 200 ") and '"v3' in lines[0], out.stdout + out.stderr
    assert lines[1].startswith("http refused"), lines
