"""Issue 9, Puppet: the real Puppet server provisions the shipped stack's containers through their agents; issue 31:
a change to what a catalog depends on (a template, a role's hieradata) reaches the running containers.

One deployed stack (the shipped containers.yaml, named explicitly) is shared by the module's tests.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time

import pytest
import yaml

from dockstack import agent
from dockstack.config import ROOT, Container, Stack, secrets_file_for
from dockstack.config.tls import copy_kept
from dockstack.remote import parallel
from dockstack.services import puppet as puppet_service
from dockstack.services import service_dir
from dockstack.services.galera import CNF as GALERA_CNF
from dockstack.services.openstack import MIGRATIONS_DB, RECORD_PASSWORD, RECORD_USER
from dockstack.services.puppet import ENVIRONMENT, KEYLENGTH
from dockstack.settings import PUPPET_MODULES_ENV

from .helpers import Deployed, agent_run, ready, run_inv, shipped_variant, sql, ssh

LAB = "main"
SHIPPED = ROOT / "containers.yaml"
INV_TIMEOUT = 600  # the bound on each inv here, a deploy-all of the shipped stack included
DOMAIN = "dockstack.lab"
CA_DIR = "/etc/puppet/puppetserver/ca"  # Debian's CA folder, inside the puppet container


@pytest.fixture(scope="module")
def real(shipped_from_empty: Deployed) -> tuple[Stack, str]:
    """The shipped stack deployed from empty hosts: the Puppet server, then every classed container's agent."""
    return shipped_from_empty.stack, shipped_from_empty.out


def server(stack: Stack) -> Container:
    found = stack.catalog_provider()
    assert found is not None
    return found


def agents(stack: Stack) -> list[Container]:
    return [c for c in stack.containers if stack.asks_catalog(c)]


def on_server(inventory, stack: Stack, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    s = server(stack)
    return ssh(inventory, s.host, f"docker exec {s.name} sh -c {shlex.quote(command)}", check=check)


def test_deploy_all_runs_each_agent_once_without_failures(real):
    stack, out = real
    assert f"{len(stack.containers)} ok, {len(stack.containers)} changed, 0 failed" in out
    for c in agents(stack):
        lines = [x for x in out.splitlines() if x.startswith(f"  {c.name}: puppet agent exit ")]
        assert len(lines) == 1, (c.name, out)
        assert lines[0].startswith(f"  {c.name}: puppet agent exit 2: ") and ", 0 failed of " in lines[0], lines
    assert not any(f"  {c.name}: puppet agent" in out for c in stack.containers if not stack.asks_catalog(c))


def test_after_the_deploy_from_empty_every_service_passes_its_check(real):
    """Issue 30's last word: with every hardening in place, the deploy from empty ends with each container running
    and each service's check `pass` (a container without a service says so)."""
    stack, _ = real
    rows = {r["name"]: r for r in json.loads(run_inv("status", "--json", containers=SHIPPED,
                                                     timeout=INV_TIMEOUT).stdout)}
    assert set(rows) == {c.name for c in stack.containers}
    for c in stack.containers:
        wanted = {"pass"} if c.service else {"pass", "no service"}  # a role's own check, or none
        row = rows[c.name]
        assert row["state"] == "running" and row["health"] in wanted and row["problem"] == "", row
    assert sum(r["health"] == "pass" for r in rows.values()) >= 10  # galera, haproxy, openstack, redis, puppet ...


def test_no_change_deploy_runs_no_agent(real):
    stack, _ = real
    out = run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert f"{len(stack.containers)} ok, 0 changed, 0 failed" in out
    assert "puppet agent" not in out and "puppet file(s) updated" not in out


def test_server_answers_with_the_ca_it_made(real, inventory):
    stack, _ = real
    assert on_server(inventory, stack, "curl -sfk https://127.0.0.1:8140/status/v1/simple").stdout == "running"
    subject = on_server(inventory, stack, f"openssl x509 -noout -subject -in {CA_DIR}/signed/puppet.{DOMAIN}.pem")
    assert f"CN = puppet.{DOMAIN}" in subject.stdout
    for pem in ("ca_crt.pem", f"signed/puppet.{DOMAIN}.pem"):  # the keys the server made at its first start
        text = on_server(inventory, stack, f"openssl x509 -noout -text -in {CA_DIR}/{pem}").stdout
        assert f"Public-Key: ({KEYLENGTH} bit)" in text, (pem, text[:600])


def test_profiles_wrote_each_roles_settings_from_hieradata(real, inventory):
    stack, _ = real
    by_name = {c.name: c for c in stack.containers}

    def read(name: str, path: str) -> str:
        return ssh(inventory, by_name[name].host, f"docker exec {name} cat {path}").stdout

    galera = read("galera1", "/etc/mysql/mariadb.conf.d/99-dockstack-galera.cnf")
    members = ",".join(f"{c.name}.{DOMAIN}" for c in stack.of_role("galera"))
    assert f"wsrep_cluster_address = gcomm://{members}\n" in galera
    assert f"wsrep_node_name = galera1.{DOMAIN}\n" in galera
    keystone = read("openstack", "/etc/dockstack/keystone.conf")
    assert f"connection = mysql+pymysql://keystone@vip.{DOMAIN}:3306/keystone\n" in keystone  # through the VIP
    assert f"zk_server_ip = cassandra.{DOMAIN}:2181\n" in read("config", "/etc/dockstack/contrail-config.conf")
    assert f"api_servers = config.{DOMAIN}:8082\n" in read("control", "/etc/dockstack/contrail-control.conf")
    for c in agents(stack):  # each with its last run summary: nothing failed
        summary = read(c.name, f"{agent.AGENT_DIR}/last_run_summary.yaml").splitlines()
        assert agent.summary_section(summary, "resources")["failed"] == 0, c.name


def test_a_second_agent_run_changes_nothing(real, inventory):
    stack, _ = real
    runs = parallel(agents(stack), lambda c: agent_run(inventory, stack, c))
    for c, run in zip(agents(stack), runs, strict=True):
        assert (run.exit_code, run.changed, run.failed) == (0, 0, 0), (c.name, run)
        assert run.total and run.total > 0
    c = agents(stack)[0]  # the agent's facter leaves out the augeas facts (agent.sh): facter itself says so
    facts = ssh(inventory, c.host, f"docker exec {c.name} facter --json augeas os.family").stdout
    assert json.loads(facts) == {"augeas": None, "os.family": "Debian"}, facts


def test_an_unlisted_certname_is_not_signed(real, inventory):
    stack, _ = real
    galera = stack.container("galera1")
    name = f"intruder.{DOMAIN}"
    cmd = ["docker", "exec", galera.name, "puppet", "agent", "--onetime", "--no-daemonize", "--waitforcert", "0",
           "--keylength", "2048", "--server", f"{server(stack).name}.{DOMAIN}", "--certname", name,
           "--ssldir", "/tmp/intruder-ssl",
           # no reuse of the connection that sent the request: the unsigned certificate's 404 came after 30 s on it
           "--http_keepalive_timeout", "0"]
    try:
        proc = ssh(inventory, galera.host, shlex.join(cmd), check=False)
        assert proc.returncode == 1
        assert "Couldn't fetch certificate from CA server" in proc.stdout + proc.stderr
        assert on_server(inventory, stack, f"test -f {CA_DIR}/requests/{name}.pem", check=False).returncode == 0
        assert on_server(inventory, stack, f"test -e {CA_DIR}/signed/{name}.pem", check=False).returncode != 0
        status = on_server(inventory, stack, f"curl -sk https://127.0.0.1:8140/puppet-ca/v1/certificate/{name}")
        assert "Not Found" in status.stdout or "Could not find" in status.stdout, status.stdout
    finally:
        ssh(inventory, galera.host, f"docker exec {galera.name} rm -rf /tmp/intruder-ssl", check=False)
        on_server(inventory, stack, f"rm -f {CA_DIR}/requests/{name}.pem", check=False)


def serial(inventory, stack: Stack, name: str) -> str:
    return on_server(inventory, stack, f"openssl x509 -noout -serial -in {CA_DIR}/signed/{name}.{DOMAIN}.pem").stdout


def test_remove_and_create_gets_a_new_working_certificate(real, inventory, tmp_path):
    stack, _ = real
    before = serial(inventory, stack, "control")
    run_inv("remove", "--name=control", containers=SHIPPED, timeout=INV_TIMEOUT)
    trace = tmp_path / "trace.jsonl"
    proc = run_inv("create", "--name=control", containers=SHIPPED, check=False, timeout=INV_TIMEOUT,
                   env={"DOCKSTACK_TRACE": str(trace)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "control: puppet agent exit 2: " in proc.stdout and ", 0 failed of " in proc.stdout
    # the old certificate forgotten (revoked) before the new key asked: the server signs no second one for a name
    assert serial(inventory, stack, "control") != before
    revoked = on_server(inventory, stack, f"openssl crl -noout -text -in {CA_DIR}/ca_crl.pem").stdout
    assert f"Serial Number: {before.strip().partition('=')[2]}" in revoked, (before, revoked)  # `serial=HEX`
    run = agent_run(inventory, stack, stack.container("control"))
    assert (run.exit_code, run.failed) == (0, 0)
    # the agent runs inside the action: facts once per host, the CA it pins (from the server's host), the forget of
    # the name's old certificate (on the server's host), the action, the transaction (one round trip per host: each
    # keeps a copy of the address book); nothing more
    steps = [json.loads(x)["step"] for x in trace.read_text().splitlines() if '"step"' in x]
    assert sorted(s for s in steps if s != "read host facts") == sorted(
        [*(f"address book transaction on {h.name}" for h in inventory.hosts), "control: create",
         "puppet: read the Puppet CA", "control: forget its old Puppet certificate"]), steps
    assert steps.count("read host facts") == len(inventory.hosts)


BROKEN = {  # a class the test puts on the Puppet server, and what the agent says about it
    "compile": ("fail('made to fail by the dockstack test')", "made to fail by the dockstack test"),
    "resource": ("exec { 'dockstack-test-false': command => '/bin/false' }", "'/bin/false' returned 1"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_failing_catalog_fails_the_container_with_the_agents_words(real, inventory, tmp_path, kind):
    stack, _ = real
    s = server(stack)
    module = f"{service_dir(s)}/{ENVIRONMENT}/modules/dockstack_test"
    body, said = BROKEN[kind]
    manifest = shlex.quote(f"class dockstack_test::{kind} {{ {body} }}")
    ssh(inventory, s.host, f"mkdir -p {module}/manifests && printf '%s\\n' {manifest} > {module}/manifests/{kind}.pp")

    def add_broken(data: dict) -> None:
        data["roles"].append({"name": "broken", "depends_on": ["puppet"], "classes": [f"dockstack_test::{kind}"]})
        data["containers"].append({"name": "broken", "role": "broken", "host": "host1",
                                   "image": "dockstack/agent:bookworm"})
    data = yaml.safe_load(SHIPPED.read_text())
    add_broken(data)
    bad = tmp_path / "broken.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    copy_kept(SHIPPED, bad)  # the deployed stack's passwords (else refused)
    try:
        proc = run_inv("create", "--name=broken", f"--containers-file={bad}", check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "broken: puppet agent" in out and said in out, out
        assert "Traceback" not in out
        names = ssh(inventory, "host1", "docker ps -a --format '{{.Names}}'").stdout.split()
        assert "broken" not in names  # a failed create leaves no container behind; a re-run tries again
    finally:
        ssh(inventory, s.host, f"rm -rf {module}")
        run_inv("ipam.release", "--name=broken", f"--containers-file={bad}", check=False)
    run_inv("deploy-all", containers=SHIPPED, timeout=INV_TIMEOUT)  # the shipped site.pp and autosign list are back
    site = on_server(inventory, stack, f"cat /etc/puppet/dockstack/{ENVIRONMENT}/manifests/site.pp").stdout
    assert "broken" not in site


# --- issue 31: Puppet settings are part of the desired state ---------------------------------------------------
# A line added to the galera template (in a copy of the modules, DOCKSTACK_PUPPET_MODULES), then a key of the galera
# role's hieradata: deploy-all --dry-run lists the three galera containers and no other, deploy-all re-runs their
# agents one node at a time, drained, in place, while a writer through the VIP never fails, and the setting is live
# on every node (MariaDB reads it only as it starts: the profile has mariadbd restarted by its supervisor). The
# shipped modules and containers.yaml are deployed again at the end, and their settings are back.

ROLL_TIMEOUT = 1500  # the bound on each inv here: a roll of the three galera nodes, as test_day2's
E2E_LINE = "# dockstack-e2e\nmax_connect_errors = 10001\n"  # under [mysqld]: MariaDB's default is 100
# the class's default is 128M; InnoDB rounds a size up to a whole number of its chunks (128M): 256M stays 256M
BUFFER_POOL = ("profile::galera::buffer_pool_size", "256M", str(256 * 1024 * 1024))
WRITES = f"{MIGRATIONS_DB}.dockstack_e2e_writes"  # the openstack record account's own database: it may write there
WRITER_LOG, WRITER_STOP = "/tmp/dockstack-e2e-writer.log", "/tmp/dockstack-e2e-writer.stop"
# python3 -c WRITER VIP_NAME USER TABLE LOG STOP, with WRITER_PASSWORD (USER's) in its env: every 0.2 s a row
# written through the VIP on a new connection (autocommit), one line per write: `TIME write ok|fail DETAIL`
WRITER = r"""
import os, sys, time
import pymysql
vip, user, table, log_path, stop = sys.argv[1:6]
log = open(log_path, "a", buffering=1)
def connect():
    return pymysql.connect(host=vip, user=user, password=os.environ["WRITER_PASSWORD"], connect_timeout=10,
                           read_timeout=10, write_timeout=10, autocommit=True)
conn = connect()
with conn.cursor() as cur:
    cur.execute(f"CREATE TABLE IF NOT EXISTS {table} (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(64))")
conn.close()
n, end = 0, time.time() + 3600
while time.time() < end and not os.path.exists(stop):
    t, n = time.time(), n + 1
    try:
        conn = connect()
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} (v) VALUES (%s)", (f"w{n}",))
        conn.close()
        log.write(f"{t:.3f} write ok w{n}\n")
    except Exception as exc:
        log.write(f"{t:.3f} write fail w{n} {type(exc).__name__}: {str(exc)[:100]!r}\n")
    time.sleep(max(0.0, 0.2 - (time.time() - t)))
"""


@pytest.fixture(scope="module")
def edited_modules(tmp_path_factory) -> dict[str, str]:
    """A copy of the repository's Puppet modules with E2E_LINE in the galera template, as `inv`'s environment."""
    modules = tmp_path_factory.mktemp("puppet") / "modules"
    shutil.copytree(puppet_service.MODULES, modules)
    template = modules / "profile" / "templates" / "galera.cnf.epp"
    text = template.read_text()
    assert "[mysqld]\n" in text and "max_connect_errors" not in text
    template.write_text(text.replace("[mysqld]\n", f"[mysqld]\n{E2E_LINE}", 1))
    return {PUPPET_MODULES_ENV: str(modules)}


def galera_nodes(stack: Stack) -> list[Container]:
    return [c for c in stack.containers if c.service == "galera"]


def variable(inventory, c: Container, name: str) -> str:
    """A global variable of the running mariadbd, on the node's local socket."""
    return sql(inventory, c, f"SHOW GLOBAL VARIABLES LIKE '{name}'").split("\t")[-1]


def started_at(inventory, c: Container) -> str:
    return ssh(inventory, c.host, f"docker inspect -f '{{{{.State.StartedAt}}}}' {c.name}").stdout.strip()


def restarts(inventory, c: Container) -> int:
    """How often the node's supervisor started mariadbd again after it ended (apply-settings stops it so)."""
    return ssh(inventory, c.host, f"docker logs {c.name} 2>&1").stdout.count("dockstack-galera: mariadbd exited with ")


def before_roll(inventory, nodes: list[Container]) -> dict[str, tuple[str, int]]:
    return {c.name: (started_at(inventory, c), restarts(inventory, c)) for c in nodes}


def reconfigured(out: str) -> set[str]:
    """The containers a dry run plans to reconfigure, each for its changed Puppet settings."""
    planned = re.findall(r"^  (\S+) \(\S+\): reconfigure \((.*)\)$", out, re.M)
    assert all(why.startswith("puppet settings changed: ") for _, why in planned), planned
    return {name for name, _ in planned}


class Writer:
    """WRITER in the openstack container (no galera change touches it), through the VIP's name, as the openstack
    record account (it owns MIGRATIONS_DB); its lines read back when it is stopped."""

    def __init__(self, remotes, stack: Stack) -> None:
        vip = next(v for _, v in stack.vips())
        self.remotes, self.c, self.vip = remotes, stack.container("openstack"), f"{vip.name}.{DOMAIN}"
        self.password = str(yaml.safe_load(secrets_file_for(SHIPPED).read_text())[RECORD_PASSWORD[0]])

    def _exec(self, *argv: str, check: bool = True) -> str:
        return self.remotes[self.c.host].run(["docker", "exec", *argv], "writer", check=check).stdout

    def __enter__(self) -> Writer:
        self._exec(self.c.name, "rm", "-f", WRITER_LOG, WRITER_STOP)
        self._exec("-d", "-e", f"WRITER_PASSWORD={self.password}", self.c.name, "python3", "-c", WRITER, self.vip,
                   RECORD_USER, WRITES, WRITER_LOG, WRITER_STOP)
        started = time.monotonic()
        while not self.lines():  # its first write answered: it runs
            assert time.monotonic() - started < 20, "the writer wrote nothing within 20 s"
            time.sleep(0.5)
        return self

    def __exit__(self, *_exc) -> None:
        self._exec(self.c.name, "touch", WRITER_STOP)
        time.sleep(1)  # the write under way ends
        self.written = self.lines()

    def lines(self) -> list[list[str]]:
        out = self._exec(self.c.name, "cat", WRITER_LOG, check=False)
        return [x.split(" ", 3) for x in out.splitlines() if x.count(" ") >= 3]


def assert_written_throughout(inventory, nodes: list[Container], writer: Writer, what: str) -> None:
    """No write failed, and every node holds every row written."""
    failed = [" ".join(x) for x in writer.written if x[2] != "ok"]
    assert not failed, f"{what}: {len(failed)} failed write(s) of {len(writer.written)}:\n" + "\n".join(failed[:20])
    ok = sum(x[2] == "ok" for x in writer.written)
    assert ok >= 10, writer.written
    deadline = time.monotonic() + 30  # the last rows applied on every node
    while (counts := [sql(inventory, c, f"SELECT COUNT(*) FROM {WRITES}") for c in nodes]) != [str(ok)] * len(nodes):
        assert time.monotonic() < deadline, (what, ok, counts)
        time.sleep(1)


def assert_rolled_in_place(inventory, out: str, nodes: list[Container], before: dict[str, tuple[str, int]]) -> None:
    """The three nodes reconfigured one at a time (the node taking the writes last), each drained from both haproxy,
    its agent run where it runs (no stop, no start of its container), mariadbd restarted once by its supervisor,
    Synced in a cluster of three; no other container ran its agent."""
    assert re.search(r"deploy-all: \d+ ok, 3 changed, 0 failed", out), out
    order = [re.search(rf"galera: rolling change {i}/3: (\S+)", out) for i in (1, 2, 3)]
    assert all(order) and order[2].group(1) == "galera1", out  # galera1 takes the writes (one_active): last
    assert set(re.findall(r"^  (\S+): puppet agent exit ", out, re.M)) == {c.name for c in nodes}, out
    for c in nodes:
        assert re.search(rf"^  {c.name}: reconfigure \(puppet settings changed: ", out, re.M), out
        assert re.search(rf"^  {c.name}: agent on {c.host} ", out, re.M), out
        assert re.search(rf"^  {c.name}: drain on haproxy2?: drained", out, re.M), out
        assert re.search(rf"^  {c.name}: puppet agent exit 2: ", out, re.M), out
        assert f"  {c.name}: stopped on " not in out, out
        started, restarted = before[c.name]
        assert started_at(inventory, c) == started, c.name  # the same container, never stopped or started
        assert restarts(inventory, c) == restarted + 1, c.name  # its mariadbd, with the new settings
        assert ready(inventory, c).startswith("state=Synced cluster=Primary size=3"), c.name


def test_a_line_added_to_the_galera_template_is_applied_one_node_at_a_time_with_the_cluster_writable(
        real, inventory, remotes, edited_modules):
    stack, _ = real
    nodes = galera_nodes(stack)
    planned = run_inv("deploy-all", "--dry-run", containers=SHIPPED, env=edited_modules, timeout=ROLL_TIMEOUT).stdout
    assert reconfigured(planned) == {c.name for c in nodes}, planned  # the galera containers, and only them
    assert f"{len(stack.containers) - 3} ok, 3 to change" in planned, planned
    before = before_roll(inventory, nodes)
    sql(inventory, nodes[0], f"DROP TABLE IF EXISTS {WRITES}")
    try:
        with Writer(remotes, stack) as writer:
            out = run_inv("deploy-all", containers=SHIPPED, env=edited_modules, timeout=ROLL_TIMEOUT).stdout
        assert re.search(r"^  puppet: .*galera\.cnf\.epp updated", out, re.M), out  # the server has it first
        assert_rolled_in_place(inventory, out, nodes, before)
        assert_written_throughout(inventory, nodes, writer, "galera template roll")
        for c in nodes:  # in its settings file, and live
            cnf = ssh(inventory, c.host, f"docker exec {c.name} cat {GALERA_CNF}").stdout
            assert E2E_LINE in cnf, (c.name, cnf)
            assert variable(inventory, c, "max_connect_errors") == "10001", c.name
        again = run_inv("deploy-all", containers=SHIPPED, env=edited_modules, timeout=ROLL_TIMEOUT).stdout
        assert f"{len(stack.containers)} ok, 0 changed, 0 failed" in again and "puppet agent" not in again, again
    except BaseException:
        run_inv("deploy-all", containers=SHIPPED, check=False, timeout=ROLL_TIMEOUT)  # the shipped modules back
        raise


def test_a_key_of_the_galera_roles_hieradata_is_applied_the_same_way_and_the_shipped_settings_come_back(
        real, inventory, remotes, edited_modules, tmp_path):
    stack, _ = real
    nodes = galera_nodes(stack)
    key, value, live = BUFFER_POOL

    def tuned(data: dict) -> None:
        next(r for r in data["roles"] if r["name"] == nodes[0].role)["hieradata"] = {key: value}

    variant = shipped_variant(tmp_path, tuned)
    try:
        planned = run_inv("deploy-all", "--dry-run", containers=variant, env=edited_modules,
                          timeout=ROLL_TIMEOUT).stdout
        assert reconfigured(planned) == {c.name for c in nodes}, planned
        assert f"{len(stack.containers) - 3} ok, 3 to change" in planned, planned
        before = before_roll(inventory, nodes)
        sql(inventory, nodes[0], f"DROP TABLE IF EXISTS {WRITES}")
        with Writer(remotes, stack) as writer:
            out = run_inv("deploy-all", containers=variant, env=edited_modules, timeout=ROLL_TIMEOUT).stdout
        assert_rolled_in_place(inventory, out, nodes, before)
        assert_written_throughout(inventory, nodes, writer, "galera hieradata roll")
        for c in nodes:
            assert variable(inventory, c, "innodb_buffer_pool_size") == live, c.name
            assert variable(inventory, c, "max_connect_errors") == "10001", c.name  # the template's line stays
    finally:
        restored = run_inv("deploy-all", containers=SHIPPED, check=False, timeout=ROLL_TIMEOUT)
    assert restored.returncode == 0 and re.search(r"deploy-all: \d+ ok, 3 changed, 0 failed", restored.stdout), \
        restored.stdout + restored.stderr
    for c in nodes:  # MariaDB's and the class's defaults again
        assert variable(inventory, c, "max_connect_errors") == "100", c.name
        assert variable(inventory, c, "innodb_buffer_pool_size") == str(128 * 1024 * 1024), c.name
    out = run_inv("deploy-all", containers=SHIPPED, timeout=ROLL_TIMEOUT).stdout
    assert f"{len(stack.containers)} ok, 0 changed, 0 failed" in out and "puppet agent" not in out, out
    sql(inventory, nodes[0], f"DROP TABLE IF EXISTS {WRITES}")
