"""Issue 30, probe 6: an agent container asking for a certificate under another container's name gets none.

The attacker is root in one agent container (config), with every secret it can read there: its own CSR challenge
(dockstack hands it to each agent run, and root in the container reads it while the agent runs) and any of the
stack's generated secrets in its environment or its secret files. The victim is another agent container (webui). The
attacker asks as dockstack's agent run does (agent.sh, the pinned CA, a scratch folder), under the victim's
certname, with each secret it holds as the challenge. Two moments: while the victim holds its certificate (the
server signs no second one for a name), and in the window before a re-created victim's agent asks (its old
certificate forgotten, as dockstack does before a create): the only challenge the attacker has is its own name's,
and the server signs nothing under the victim's.
"""

from __future__ import annotations

import shlex
import subprocess

import pytest

from dockstack import agent
from dockstack.config import ROOT, Container, Stack
from dockstack.services import puppet as puppet_service

from .helpers import Deployed, agent_run, puppet_server, run_inv, ssh

LAB = "main"
SHIPPED = ROOT / "containers.yaml"
INV_TIMEOUT = 600  # the bound on each inv here (a create runs the Puppet agent)
ATTACKER, VICTIM = "config", "webui"  # two agent containers of the shipped stack
SCRATCH = "/tmp/dockstack-attacker-agent"  # the attacker's agent folder, beside its own
# in a container: its exec'd environment, its PID 1's, and its secret files (root reads them: config.SECRETS_MOUNT)
HELD = ("env; tr '\\0' '\\n' < /proc/1/environ; "
        'for f in /run/secrets/*; do if [ -f "$f" ]; then cat "$f"; echo; fi; done')


@pytest.fixture(scope="module")
def stack(shipped_from_empty: Deployed) -> Stack:
    assert "0 failed" in shipped_from_empty.out, shipped_from_empty.out
    return shipped_from_empty.stack


def on_server(inventory, stack: Stack, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    s = puppet_server(stack)
    return ssh(inventory, s.host, f"docker exec {s.name} sh -c {shlex.quote(command)}", check=check)


def ca_files(inventory, stack: Stack) -> set[str]:
    """What the server's CA holds: `signed/NAME.pem` (certificates) and `requests/NAME.pem` (pending requests)."""
    listing = on_server(inventory, stack, f"cd {puppet_service.CA_DIR} && find signed requests -type f").stdout
    return set(listing.split())


def signed(files: set[str]) -> set[str]:
    return {f for f in files if f.startswith("signed/")}


def serial(inventory, stack: Stack, certname: str) -> str:
    return on_server(inventory, stack, f"openssl x509 -noout -serial -in {puppet_service.CA_DIR}/signed/{certname}.pem"
                     ).stdout


def certname(inventory, c: Container) -> str:
    return f"{c.name}.{inventory.network.domain}"


def held_challenges(inventory, stack: Stack, attacker: Container) -> list[str]:
    """Every value the attacker can put in a request as its challenge: its own name's challenge (what dockstack
    hands its agent), then each of the stack's generated secrets that its container's environment, its PID 1's or its
    secret files hold (none should: a container gets its own service's secrets only, and an agent none)."""
    own = puppet_service.challenge(stack, certname(inventory, attacker))
    seen = ssh(inventory, attacker.host, f"docker exec {attacker.name} sh -c {shlex.quote(HELD)}").stdout
    values = stack.generated.values.values() if stack.generated else ()
    return [own, *sorted({v for v in values if v in seen and v.isalnum()} - {own})]


def attack(inventory, stack: Stack, challenge: str) -> agent.AgentRun:
    """From inside the attacker's container, as its agent runs (the pinned CA, a scratch folder): a certificate
    request under the victim's certname, carrying challenge."""
    attacker = stack.container(ATTACKER)
    ssh(inventory, attacker.host, f"docker exec {attacker.name} rm -rf {SCRATCH}")
    return agent_run(inventory, stack, attacker, folder=SCRATCH, challenge=challenge,
                     certname=certname(inventory, stack.container(VICTIM)))


def forget(inventory, stack: Stack, name: str) -> str:
    """The server forgets name's certificate and pending request, as dockstack has it do before a create."""
    s = puppet_server(stack)
    return ssh(inventory, s.host, shlex.join(puppet_service.forget_argv(s, name, inventory.network.domain))).stdout


def test_a_request_under_a_name_that_holds_its_certificate_gets_none(stack, inventory):
    """The victim runs with its certificate: whatever the attacker's request carries, the server signs no second
    one for the name (and keeps no request pending under it); the victim's certificate stands and still works."""
    attacker, victim = stack.container(ATTACKER), stack.container(VICTIM)
    before, before_serial = ca_files(inventory, stack), serial(inventory, stack, certname(inventory, victim))
    assert f"signed/{certname(inventory, victim)}.pem" in before
    try:
        for challenge in held_challenges(inventory, stack, attacker):
            run = attack(inventory, stack, challenge)
            assert not run.ok, run  # no certificate of its own: no catalog
            assert ca_files(inventory, stack) == before  # nothing signed, nothing pending
            assert serial(inventory, stack, certname(inventory, victim)) == before_serial
    finally:
        ssh(inventory, attacker.host, f"docker exec {attacker.name} rm -rf {SCRATCH}", check=False)
    run = agent_run(inventory, stack, victim)  # the victim, with the certificate it has
    assert (run.exit_code, run.failed) == (0, 0), run


def test_while_a_recreated_containers_name_awaits_its_request_another_container_gets_nothing(stack, inventory):
    """Between the forget of the victim's old certificate and its new agent's request (a re-create), the name has
    no certificate: the attacker's request under it, with the only challenge it has (its own name's), waits
    unsigned; the CA signs nothing new. The victim, re-created, gets its certificate and its agent runs."""
    attacker, victim = stack.container(ATTACKER), stack.container(VICTIM)
    name = certname(inventory, victim)
    try:
        assert forget(inventory, stack, name).strip() == "forget done"
        before = ca_files(inventory, stack)
        assert f"signed/{name}.pem" not in before and f"requests/{name}.pem" not in before
        for challenge in held_challenges(inventory, stack, attacker):
            run = attack(inventory, stack, challenge)
            assert not run.ok, run
            after = ca_files(inventory, stack)
            assert signed(after) == signed(before), after - before  # no certificate for anyone
            assert forget(inventory, stack, name).strip() in ("forget none", "forget done")  # its request, if kept
    finally:
        ssh(inventory, attacker.host, f"docker exec {attacker.name} rm -rf {SCRATCH}", check=False)
        forget(inventory, stack, name)
        # the victim as dockstack brings a container back: re-created, its old name forgotten first
        run_inv("remove", f"--name={VICTIM}", containers=SHIPPED, timeout=INV_TIMEOUT)
        out = run_inv("create", f"--name={VICTIM}", containers=SHIPPED, timeout=INV_TIMEOUT).stdout
    assert f"{VICTIM}: puppet agent exit 2: " in out and ", 0 failed of " in out, out
    assert f"signed/{name}.pem" in ca_files(inventory, stack)
    run = agent_run(inventory, stack, victim)
    assert (run.exit_code, run.failed) == (0, 0), run
