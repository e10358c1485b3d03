"""Issue 9, Puppet: the real Puppet server provisions the shipped stack's containers through their agents.

One deployed stack (the shipped containers.yaml, named explicitly) is shared by the module's tests.
"""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest
import yaml

from dockstack import agent
from dockstack.config import ROOT, Container, Stack
from dockstack.config.tls import copy_kept
from dockstack.remote import parallel
from dockstack.services import service_dir
from dockstack.services.puppet import ENVIRONMENT, KEYLENGTH

from .helpers import Deployed, agent_run, run_inv, ssh

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
