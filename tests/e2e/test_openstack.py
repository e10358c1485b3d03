"""Issue 10, the openstack role: keystone, glance, nova, neutron, cinder, horizon and rabbitmq in one container of the
shipped stack, against the real services, through the VIP's DNS name.

One deployed stack is shared by the module's tests (see the fixture: in the suite, test_puppet deployed it from empty
just before). The tests run in file order; the last ones remove and re-create the container. Times are printed
(pytest -s shows them).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from dockstack import lab
from dockstack.config import ROOT, Container, Stack, secrets_file_for
from dockstack.config.tls import CA_FILE, tls_dir_for
from dockstack.dockercli import LABEL_MANAGED
from dockstack.services.registry import GENERATED_KEYS

from .helpers import Deployed, haproxy_servers, ipam_json, run_inv, ssh

LAB = "main"
SHIPPED = ROOT / "containers.yaml"
INV_TIMEOUT = 1500  # the bound on each inv here, a deploy-all of the shipped stack included
DOMAIN = "dockstack.lab"
CATALOG = {"identity", "image", "placement", "compute", "network", "volumev3", "block-storage"}
APIS = {"keystone": 5000, "glance": 9292, "placement": 8778, "nova-api": 8774, "neutron-server": 9696, "cinder": 8776,
        "horizon": 443}


def os_cli(inventory, c: Container, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The openstack CLI inside the container, as the admin, through the VIP's name (/root/admin-openrc)."""
    script = f". /root/admin-openrc && openstack {command}"
    return ssh(inventory, c.host, f"docker exec {c.name} bash -c {shlex.quote(script)}", check=check)


def ssh_input(inventory, host: str, command: str, data: str) -> subprocess.CompletedProcess[str]:
    """ssh with standard input (a pattern file for grep, so no password is on a command line)."""
    h, spec = inventory.host(host), inventory.lab
    assert spec is not None
    return subprocess.run(["ssh", "-i", str(lab.key_file(spec)), "-o",
                           f"UserKnownHostsFile={lab.known_hosts_file(spec)}", "-o", "BatchMode=yes",
                           f"root@{h.address}", command], input=data, capture_output=True, text=True, timeout=120)


def health_of(name: str) -> str:
    """The container's HEALTH in `inv status --json` (its readiness check, run once): `pass` or `fail: LINE`."""
    env = {"DOCKSTACK_HEALTH_TIMEOUT": "30"}  # its check probes eight services: room on a busy host
    proc = run_inv("status", "--json", containers=SHIPPED, timeout=300, env=env)
    row = next(r for r in json.loads(proc.stdout) if r["name"] == name)
    return f"{row['health']}: {row['health_detail']}" if row["health_detail"] else row["health"]


@pytest.fixture(scope="module")
def cloud(shipped_from_empty: Deployed) -> tuple[Stack, Container, list[str]]:
    """The shipped stack deployed from empty hosts on a fresh Galera (so the openstack tier created and migrated
    every database there), then deploy-all again: it brings back what test_puppet's tests changed."""
    stack = shipped_from_empty.stack
    c = stack.container("openstack")
    t0 = time.monotonic()
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    print(f"\nopenstack: deploy-all {time.monotonic() - t0:.1f}s")
    return stack, c, [out]


def test_deploy_all_brings_up_every_service_and_a_rerun_changes_nothing(cloud, inventory):
    stack, c, outputs = cloud
    assert "0 failed" in outputs[0], outputs[0]
    logs = ssh(inventory, c.host, f"docker logs {c.name} 2>&1").stdout
    # the supervisor reached MariaDB through the VIP (never a node), made or found the databases, runs everything
    assert "waiting for MariaDB at vip.dockstack.lab:3306" in logs and "dockstack-openstack: running" in logs, logs
    t0 = time.monotonic()
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    outputs.append(out)
    print(f"\nopenstack: no-change deploy-all {time.monotonic() - t0:.2f}s")
    assert f"{len(stack.containers)} ok, 0 changed, 0 failed" in out and "puppet agent" not in out
    assert health_of(c.name) == "pass"
    # Puppet wrote the non-secret settings; the secret ones are the supervisor's, readable by the service only
    conf = ssh(inventory, c.host, f"docker exec {c.name} cat /etc/nova/nova.conf.d/50-dockstack.conf").stdout
    assert f"auth_url = https://vip.{DOMAIN}:5000/v3\n" in conf and "password =" not in conf
    mode = ssh(inventory, c.host, f"docker exec {c.name} stat -c '%a %U %G' "
               "/etc/nova/nova.conf.d/90-dockstack-secrets.conf").stdout.split()
    assert mode == ["640", "root", "nova"]


def test_the_image_holds_the_byte_code_its_packages_asked_for(cloud, inventory):
    """The build compiled what each package's py3compile call asked for, once after the install (apt.sh): every
    module of a package (not only those something imported since), and the files under a folder a call named
    (openstack-dashboard's, python3-minimal's); py3compile itself is back, undiverted."""
    _, c, _ = cloud
    check = ("import importlib.util as u, os, subprocess\n"
             "files = [f for f in subprocess.run(['dpkg', '-L', 'python3-keystone'], capture_output=True, text=True,"
             " check=True).stdout.split() if f.endswith('.py') and os.path.exists(f)]\n"
             "named = ['/usr/share/openstack-dashboard/manage.py', '/usr/share/python3/debpython/files.py']\n"
             "print(len(files), [f for f in files + named if not os.path.exists(u.cache_from_source(f))])\n")
    out = ssh(inventory, c.host, f"docker exec {c.name} python3 -B -c {shlex.quote(check)}").stdout
    assert int(out.split()[0]) > 100 and out.split(maxsplit=1)[1].strip() == "[]", out
    probe = "dpkg-divert --list | grep -c py3compile; head -n 1 /usr/bin/py3compile"
    out = ssh(inventory, c.host, f"docker exec {c.name} sh -c {shlex.quote(probe)}", check=False).stdout
    assert out.splitlines()[0] == "0" and "python3" in out.splitlines()[1], out
    # the packages' own test suites are left out (images.DPKG_EXCLUDES), and the services run without them
    site = "/usr/lib/python3/dist-packages"
    probe = f"find {site} -path '*/tests/*' | head -n 3; ls -d {site}/nova"
    out = ssh(inventory, c.host, f"docker exec {c.name} sh -c {shlex.quote(probe)}").stdout
    assert out.split() == [f"{site}/nova"], out


def os_cli_session(inventory, c: Container, commands: list[str]) -> tuple[list, str]:
    """The openstack CLI's own shell fed the commands on standard input, as the admin through the VIP's name: one
    start of the CLI (seconds of Python imports) instead of one per command. Each command's JSON output, in order,
    and what the shell wrote to stderr (where a failing command's error goes: the shell itself exits 0)."""
    proc = ssh_input(inventory, c.host, f"docker exec -i {c.name} bash -c '. /root/admin-openrc && openstack'",
                     "".join(f"{command} -f json\n" for command in commands))
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    decoder, text, at, outputs = json.JSONDecoder(), proc.stdout, 0, []
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        value, at = decoder.raw_decode(text, at)
        outputs.append(value)
    return outputs, proc.stderr


def test_the_cli_through_the_vip(cloud, inventory):
    _, c, _ = cloud
    commands = ["token issue -c id", "catalog list", "image list", "network list", "volume list", "server list"]
    outputs, errors = os_cli_session(inventory, c, commands)
    assert len(outputs) == len(commands) and not errors.strip(), (outputs, errors)  # each answered, none failed
    token, catalog, *lists = outputs
    assert re.fullmatch(r"gAAAAA[A-Za-z0-9_=-]+", token["id"]), token  # a fernet token
    assert {s["Type"] for s in catalog} >= CATALOG
    for s in catalog:  # every endpoint of every service at the VIP's name, over HTTPS
        assert s["Endpoints"] and f"https://vip.{DOMAIN}:" in str(s["Endpoints"]), s
        assert "http://" not in str(s["Endpoints"]), s
    assert all(isinstance(x, list) for x in lists), lists  # image, network, volume and server lists (empty)


def test_a_tenant_network_and_its_subnet_are_made_through_the_vip(cloud, inventory):
    """`network create` and `subnet create` as the admin: ML2 gives the network a VXLAN segment (tenant networks
    of type VXLAN need no agent on the control plane), the subnet gets its range; both are deleted again."""
    _, c, _ = cloud
    name = f"dockstack-net-{uuid.uuid4().hex[:8]}"
    try:
        outputs, errors = os_cli_session(inventory, c, [
            f"network create {name}",
            f"subnet create --network {name} --subnet-range 192.168.77.0/24 {name}-sub",
            f"network show {name}"])
        assert len(outputs) == 3 and not errors.strip(), (outputs, errors)
        net, sub, shown = outputs
        assert net["status"] == "ACTIVE" and net["provider:network_type"] == "vxlan", net
        assert 1 <= int(net["provider:segmentation_id"]) <= 1000, net
        assert sub["cidr"] == "192.168.77.0/24" and sub["network_id"] == net["id"], sub
        assert sub["id"] in str(shown["subnets"]), shown
    finally:
        os_cli(inventory, c, f"subnet delete {name}-sub", check=False)
        os_cli(inventory, c, f"network delete {name}", check=False)


def test_a_server_create_is_answered_by_the_scheduler_with_no_valid_host(cloud, inventory):
    """nova-api takes the request, nova-conductor asks nova-scheduler, which asks placement (through the VIP) for a
    host with room: a control plane has no compute node, so the server ends in ERROR with the scheduler's
    `No valid host was found`, not a missing service's error. Flavor, image and server are deleted again."""
    _, c, _ = cloud
    name = f"dockstack-vm-{uuid.uuid4().hex[:8]}"
    try:
        outputs, errors = os_cli_session(inventory, c, [
            "resource provider list",  # placement answers (an empty list: no compute node)
            f"flavor create --ram 64 --disk 1 --vcpus 1 {name}",
            f"image create --disk-format raw --container-format bare --file /etc/os-release {name}",
            f"network create {name}",
            f"subnet create --network {name} --subnet-range 192.168.78.0/24 {name}",
            # a network of its own (bookworm's client fails `--nic none` before it sends anything; nova wants a subnet)
            f"server create --flavor {name} --image {name} --network {name} {name}"])
        assert len(outputs) == 6 and not errors.strip(), (outputs, errors)
        providers, flavor, image, _, _, server = outputs
        # the image's status is not checked here: the CLI may print it before the upload ends (`queued`); nova
        # refuses a server of an image that is not active, so a scheduler's answer below says it was
        assert providers == [] and flavor["name"] == name and image["name"] == name, (providers, image)
        deadline, shown = time.monotonic() + 180, {}
        while time.monotonic() < deadline:  # BUILD until the scheduler has answered
            shown = json.loads(os_cli(inventory, c, f"server show {server['id']} -f json").stdout)
            if shown["status"] != "BUILD":
                break
            time.sleep(2)
        assert shown.get("status") == "ERROR", shown
        assert "No valid host was found" in str(shown.get("fault")), shown
    finally:
        for kind in ("server", "image", "flavor", "subnet", "network"):
            os_cli(inventory, c, f"{kind} delete {name}", check=False)
    # the scheduler runs under the supervisor and is listed by nova as up
    services = json.loads(os_cli(inventory, c, "compute service list -f json").stdout)
    assert {(x["Binary"], x["State"]) for x in services} >= {("nova-scheduler", "up"), ("nova-conductor", "up")}


def test_haproxy_balances_each_api_over_the_openstack_containers(cloud, inventory):
    _, c, _ = cloud
    ip = ipam_json()[c.name]["ip"]
    for name in APIS:
        servers = haproxy_servers(inventory, f"{name}_servers")
        assert servers == {c.name: (ip, True)}, (name, servers)
    # horizon's login page through the VIP, over HTTPS (the container trusts the stack's CA)
    fetch = (f"import urllib.request; r = urllib.request.urlopen('https://vip.{DOMAIN}/auth/login/', "
             "timeout=30); print(r.status); print(r.read().decode())")
    page = ssh(inventory, c.host, f"docker exec {c.name} python3 -c {shlex.quote(fetch)}").stdout
    assert page.startswith("200\n") and "Log in" in page, page[:300]


BROWSER = ROOT / "tests" / "e2e" / "horizon_browser.py"
SCREENSHOT = ROOT / "artifacts" / "horizon-overview.png"


def test_horizon_in_a_real_browser_logs_the_admin_in_through_the_vip(cloud, inventory, tmp_path):
    """Debian's chromium, headless, driven by selenium, on the container network (in the openstack container's
    network namespace): it opens https://vip.dockstack.lab/ trusting only the stack's CA (its own certificate store
    under a fresh HOME; no certificate error is ignored), logs in as admin and sees the project overview. The
    screenshot is left in artifacts/."""
    stack, c, _ = cloud
    vip = next(r.vip for r in stack.roles if r.vip)
    store = tmp_path / ".pki" / "nssdb"
    store.mkdir(parents=True)
    ca = tls_dir_for(SHIPPED) / CA_FILE
    for argv in (["certutil", "-d", f"sql:{store}", "-N", "--empty-password"],
                 ["certutil", "-d", f"sql:{store}", "-A", "-t", "C,,", "-n", "dockstack-ca", "-i", str(ca)]):
        subprocess.run(argv, check=True, capture_output=True, timeout=60)
    pid = ssh(inventory, c.host, f"docker inspect -f '{{{{.State.Pid}}}}' {c.name}").stdout.strip()
    assert pid.isdigit() and pid != "0", pid
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    password = yaml.safe_load(secrets_file_for(SHIPPED).read_text())["openstack_admin_password"]
    name = f"{vip.name}.{DOMAIN}"
    t0 = time.monotonic()
    proc = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "env", f"HOME={tmp_path}", sys.executable,
                           str(BROWSER), f"https://{name}/", name, str(vip.ip), str(SCREENSHOT)],
                          input=password + "\n", capture_output=True, text=True, timeout=600)
    print(f"\nhorizon: browser login {time.monotonic() - t0:.1f}s, screenshot {SCREENSHOT}")
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["url"].startswith(f"https://{name}/project/"), seen
    assert "Overview" in seen["headings"] and "Overview" in seen["title"], seen
    assert SCREENSHOT.stat().st_size > 10_000  # a rendered page, not an empty image


def test_rabbitmq_runs_and_the_services_are_connected(cloud, inventory):
    _, c, _ = cloud
    status = ssh(inventory, c.host, f"docker exec {c.name} rabbitmqctl status", check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    users = ssh(inventory, c.host, f"docker exec {c.name} rabbitmqctl -q list_connections user").stdout.split()[1:]
    assert users.count("openstack") >= 3, users
    queues = ssh(inventory, c.host, f"docker exec {c.name} rabbitmqctl -q list_queues name consumers").stdout
    consumers = {q: int(n) for q, n in (line.split() for line in queues.splitlines())
                 if n.isdigit()}  # after the header line
    for queue in ("conductor", "cinder-scheduler", "q-plugin"):
        assert consumers.get(queue, 0) >= 1, (queue, consumers)


def test_keystone_caches_in_a_memcached_only_its_user_reaches(cloud, inventory):
    """keystone's cache (memcached on a unix socket, keystone's user only): tokens and roles are looked up once,
    not in the database on every request, and no other service's user can read or write what it caches."""
    _, c, _ = cloud
    os_cli(inventory, c, "catalog list -f value")
    os_cli(inventory, c, "project list -f value")
    stats = ("import socket, sys\n"
             "s = socket.socket(socket.AF_UNIX)\n"
             "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    sys.exit('refused')\n"
             "s.sendall(b'stats\\r\\n')\ndata = b''\n"
             "while not data.endswith(b'END\\r\\n'):\n    data += s.recv(65536)\n"
             "print(data.decode())\n")
    socket_path = "/run/dockstack-keystone-cache/memcached.sock"

    def as_user(user: str) -> subprocess.CompletedProcess[str]:
        argv = ["docker", "exec", c.name, "setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                "python3", "-c", stats, socket_path]
        return ssh(inventory, c.host, shlex.join(argv), check=False)

    got = as_user("keystone")
    assert got.returncode == 0, got.stdout + got.stderr
    numbers = dict(re.findall(r"^STAT (\w+) (\d+)", got.stdout, re.M))
    assert int(numbers["get_hits"]) > 0 and int(numbers["curr_items"]) > 0, numbers
    for user in ("nova", "glance"):
        other = as_user(user)
        assert other.returncode != 0 and "refused" in other.stderr + other.stdout, (user, other.stdout, other.stderr)


def test_a_service_that_dies_shows_in_status_and_comes_back(cloud, inventory):
    _, c, _ = cloud
    state = ssh(inventory, c.host, f"docker exec {c.name} cat /run/dockstack-openstack/nova-conductor").stdout.split()
    pid = state[1]
    cmdline = ssh(inventory, c.host, f"docker exec {c.name} cat /proc/{pid}/cmdline").stdout
    assert "nova-conductor" in cmdline and not cmdline.startswith("bash"), cmdline  # the service's own PID
    count = f"docker exec {c.name} pgrep -c -f /usr/bin/nova-conductor"
    before = ssh(inventory, c.host, count).stdout.strip()
    kill = f"kill -9 {pid}"  # the service, not its supervisor
    ssh(inventory, c.host, f"docker exec {c.name} sh -c {shlex.quote(kill)}")
    health = health_of(c.name)  # the supervisor restarts it; for 30 s the check says it died
    assert health.startswith("fail: nova-conductor: "), health
    deadline = time.monotonic() + 120
    while (health := health_of(c.name)) != "pass" and time.monotonic() < deadline:
        time.sleep(2)  # between status runs: the check counts the restarted service ready 30 s after its restart
    assert health == "pass", health
    # as many nova-conductor processes as before: the killed one is gone, and none was left running beside the new one
    assert ssh(inventory, c.host, count).stdout.strip() == before


def test_remove_and_create_keep_the_address_and_the_catalog(cloud, inventory):
    _, c, outputs = cloud
    before = ipam_json()[c.name]
    since = ssh(inventory, c.host, "date +%s").stdout.strip()
    t0 = time.monotonic()
    run_inv("remove", f"--name={c.name}", containers=SHIPPED, timeout=INV_TIMEOUT)
    print(f"\nopenstack: remove (its services stopped by SIGTERM first) {time.monotonic() - t0:.1f}s")
    # issue 31: its services get SIGTERM and end within the stop timeout; no SIGKILL (docker rm --force was one)
    events = ssh(inventory, c.host, f"docker events --since {since} --until \"$(date +%s)\" --filter "
                 f"container={c.name} --format '{{{{.Action}}}} {{{{index .Actor.Attributes \"signal\"}}}}'").stdout
    kills = [x.split()[1] for x in events.splitlines() if x.startswith("kill ")]
    assert kills and set(kills) == {"15"}, events
    gone = ssh(inventory, c.host, f"docker ps -aq --filter name=^{c.name}$").stdout
    assert gone == "", gone
    t0 = time.monotonic()
    outputs.append(run_inv("create", f"--name={c.name}", containers=SHIPPED, timeout=INV_TIMEOUT).stdout)
    assert re.search(r"openstack: puppet agent exit [02]: \d+ changed, 0 failed", outputs[-1]), outputs[-1]
    print(f"\nopenstack: create of a removed container (databases kept on Galera) {time.monotonic() - t0:.1f}s")
    after = ipam_json()[c.name]
    assert (after["ip"], after["mac"]) == (before["ip"], before["mac"])
    logs = ssh(inventory, c.host, f"docker logs {c.name} 2>&1").stdout
    assert "keystone: database at" in logs and "migrating the database" not in logs  # nothing migrated again
    catalog = yaml.safe_load(os_cli(inventory, c, "catalog list -f yaml").stdout)
    assert {s["Type"] for s in catalog} >= CATALOG


def test_no_password_in_any_output_label_log_or_puppet_report(cloud, inventory, remotes):
    stack, c, outputs = cloud
    secrets = yaml.safe_load(secrets_file_for(SHIPPED).read_text())
    values = [secrets[k] for k in GENERATED_KEYS]
    seen = "\n".join(outputs) + "".join(run_inv(*args, containers=SHIPPED, timeout=INV_TIMEOUT).stdout
                                        for args in (["status"], ["ipam.show"], ["status", "--json"]))
    for h in {x.host for x in stack.containers}:
        seen += ssh(inventory, h, f"docker ps -aq --filter label={LABEL_MANAGED}=true | xargs -r docker inspect "
                    "--format '{{json .Config.Labels}} {{json .State.Health}}'").stdout
    seen += ssh(inventory, c.host, f"docker logs {c.name} 2>&1").stdout
    for k, v in zip(GENERATED_KEYS, values, strict=True):
        assert v not in seen, k
    patterns = "".join(f"{v}\n" for v in values)
    # the service's logs and the Puppet server's reports, catalogs and facts: no file holds a password
    found = ssh_input(inventory, c.host, f"docker exec -i {c.name} grep -rlF -f - /var/log /run/dockstack-openstack",
                      patterns)
    assert found.returncode == 1 and not found.stdout, found.stdout  # 1: no match
    server = stack.catalog_provider()
    assert server is not None
    search = ('set --; for d in /var/lib/puppet /var/lib/puppetserver /var/log/puppetserver /etc/puppet; do '
              '[ -d "$d" ] && set -- "$@" "$d"; done; grep -rlF -f - "$@"')
    found = ssh_input(inventory, server.host, f"docker exec -i {server.name} sh -c {shlex.quote(search)}", patterns)
    assert found.returncode == 1 and not found.stdout, found.stdout
