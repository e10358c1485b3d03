"""Container actions as constant remote scripts: one SSH round trip per action, parsed by a pure function.

create/recreate/start/restart: write the env file and the service files (standard input), `docker run` (or start), give
the container its eth0 on the bridge with the planned MAC, static IP or dhclient inside it, print the
MAC and IP it ended with, then poll the role's readiness check. A create that fails before the
container has an address removes the container again, so nothing is left half-made.
"""

from __future__ import annotations

import io
import math
import tarfile
from dataclasses import dataclass, field

from dockstack import dockercli, network
from dockstack.config import Container, Network, Role
from dockstack.facts import parse_ipv4, parse_link_mac
from dockstack.ipam import AddressPlan
from dockstack.scripts import script
from dockstack.services import service_dir
from dockstack.services.base import Service
from dockstack.settings import agent_timeout, dhcp_timeout, step_timeout

CREATE, RECREATE, START, RESTART = "create", "recreate", "start", "restart"
CHECK_POLL = 0.2  # seconds between readiness probes

# The one script of an action (see above): dockstack/scripts/action.sh, arguments from action_argv.
ACTION_SCRIPT = script("action.sh")

AGENT_DIR = "/var/lib/dockstack-agent"  # inside a container: the agent's ssldir, run log and last run summary
# One Puppet agent run inside a container (`docker exec -i NAME sh -c AGENT_SCRIPT sh SERVER CERTNAME`; then
# DIR=AGENT_DIR, PORT=8140 and WAIT=0: seconds to wait for the server's port to accept). Standard input: the
# stack's CSR challenge, then the CA to pin (AgentPin): the agent never learns a CA from whoever answers as the
# server. Its ssldir is kept while that CA stays; a re-created server (a new CA) starts it over, and a container
# re-created with its old name sends a new request that the server's allow_duplicate_certs lets replace the old
# certificate. A 2048-bit key: Puppet's default 4096 bits take seconds to generate on a busy 2-core machine. No
# kept-alive connections: the one that submitted the certificate request stalled the next request for 30 s
# (Jetty's idle timeout), measured in the lab: 34 s for a first run with them, 6 s without. Prints
# `agent exit N`, the agent's Error lines (`agent error ...`) and its last run summary (`agent summary ...`).
# The text: dockstack/scripts/agent.sh.
AGENT_SCRIPT = script("agent.sh")


@dataclass(frozen=True)
class AgentPin:
    """What an agent run is given: the Puppet server's DNS name, the CA certificate(s) it may trust (read from
    the server's container over SSH: services.puppet.parse_ca) and the stack's CSR challenge (a secret: the
    server signs only requests that carry it)."""

    server: str
    ca: str
    challenge: str = field(repr=False)


@dataclass(frozen=True)
class AgentRun:
    """What one Puppet agent run reported: its exit code (--detailed-exitcodes), the resources its last run
    summary counts, its Error lines and how long it took."""

    exit_code: int | None
    changed: int | None
    failed: int | None
    total: int | None
    errors: tuple[str, ...] = ()
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        """Exit 0 (nothing to change) or 2 (changed), and a summary that counts no failed resource."""
        return self.exit_code in (0, 2) and self.failed == 0


def parse_agent(lines: list[str]) -> AgentRun | None:
    """The `agent ...` lines of an action or of AGENT_SCRIPT (prefix included); None when no agent ran."""
    code, errors, summary, ms, seen = None, [], [], None, False
    for line in lines:
        kind, _, rest = line.removeprefix("agent ").partition(" ")
        if not line.startswith("agent "):
            continue
        seen = True
        if kind == "exit" and rest.strip().lstrip("-").isdigit():
            code = int(rest)
        elif kind == "error":
            errors.append(rest.strip())
        elif kind == "summary":
            summary.append(rest)
        elif kind == "ms" and rest.strip().isdigit():
            ms = int(rest) / 1000
    if not seen:
        return None
    resources = summary_section(summary, "resources")
    return AgentRun(code, resources.get("changed"), resources.get("failed"), resources.get("total"), tuple(errors), ms)


def summary_section(lines: list[str], section: str) -> dict[str, int]:
    """`key: number` pairs of one top-level section of last_run_summary.yaml (flat YAML, 2-space indents)."""
    out: dict[str, int] = {}
    inside = False
    for line in lines:
        if line and not line.startswith(" "):
            inside = line.rstrip() == f"{section}:"
            continue
        key, _, value = line.strip().partition(":")
        if inside and value.strip().isdigit():
            out[key] = int(value)
    return out


def time_bound(role: Role) -> float:
    """How long one action may take in all: docker run or start, DHCP, the Puppet agent (roles with classes),
    the readiness check, and slack."""
    return step_timeout() + dhcp_timeout() + (agent_timeout() if role.classes else 0) + math.ceil(role.check_timeout)


def files_payload(files: dict[str, str], dirs: tuple[str, ...] = (), private: frozenset[str] = frozenset()) -> bytes:
    """Path -> text (and empty folders), as a tar.gz that `tar -xzf - -C /` (or -C DIR) writes in place; files
    whose name is in private (they hold a secret) readable by root only."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for path in dirs:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o600 if path.rpartition("/")[2] in private else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def action_argv(mode: str, c: Container, role: Role, net: Network, plan: AddressPlan, dns_servers: list[str],
                with_files: bool, agent: AgentPin | None = None) -> list[str]:
    """The one command of a create, recreate or start; every value is a quoted argument, except env values and
    the agent's challenge: those go on standard input (action_input), so the host's process list never shows
    them. With an agent (AgentPin), the Puppet agent runs after addressing, before the check."""
    hv, tmp = network.veth_names(c.name)
    cidr = f"{plan.static_ip}/{net.subnet.prefixlen}" if plan.static_ip else ""
    creates = mode in (CREATE, RECREATE)
    run = dockercli.run_argv(c, net, dns_servers)[2:] if creates else []  # after `docker run`
    return ["sh", "-c", ACTION_SCRIPT, "sh", mode, c.name, plan.mac or "", cidr,
            str(net.gateway) if net.gateway else "", str(net.mtu), net.bridge, hv, tmp,
            str(dhcp_timeout()), role.check or "", str(math.ceil(role.check_timeout)), f"{CHECK_POLL:g}",
            "1" if with_files else "0", str(len(c.env) if creates else 0), agent.server if agent else "",
            f"{c.name}.{net.domain}" if agent else "", AGENT_SCRIPT if agent else "", agent.ca if agent else "",
            *run]


def action_input(mode: str, c: Container, files: dict[str, str], dirs: tuple[str, ...] = (),
                 private: frozenset[str] = frozenset(), agent: AgentPin | None = None) -> bytes:
    """The action script's standard input: the agent's challenge line when an agent runs, the env file's lines
    (create and recreate), then the service files as tar.gz when there are any (action_argv says whether an
    agent runs, how many lines and whether files follow)."""
    challenge = f"{agent.challenge}\n".encode() if agent else b""
    env = dockercli.env_file(c).encode() if mode in (CREATE, RECREATE) else b""
    return challenge + env + (files_payload(files, dirs, private) if files else b"")


@dataclass(frozen=True)
class ActionResult:
    """What one action script reported."""

    started: bool  # the container was running at some point (it may hold an address)
    mac: str | None
    ip: str | None
    ready: bool
    failed_step: str | None  # the step that failed (the container was removed again on create)
    said: str  # the last lines the failing step printed
    unready: str | None = None  # the readiness check did not pass: for how long
    agent: AgentRun | None = None  # the Puppet agent's run, when the role has classes
    took: dict[str, float] = field(default_factory=dict)  # seconds per step: addressing, check (`took` lines)


def parse_action(text: str) -> ActionResult:
    started, ready, failed, unready, said, link, addr = False, False, None, None, [], "", ""
    took: dict[str, float] = {}
    lines = text.splitlines()
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "started":
            started = True
        elif kind == "link":
            link = rest
        elif kind == "addr":
            addr += rest + "\n"
        elif kind == "ready":
            ready = True
        elif kind == "failed":
            failed = rest
        elif kind == "unready":
            failed, unready = "readiness check", rest
        elif kind == "said":
            said.append(rest)
        elif kind == "took":
            step, _, ms = rest.partition(" ")
            if step in ("addressing", "check") and ms.strip().isdigit():
                took[step] = int(ms) / 1000
    if failed is None and not ready:
        failed = "action"  # the script ended early without saying why
    return ActionResult(started, parse_link_mac(link), parse_ipv4(addr), ready, failed,
                        "; ".join(s.strip() for s in said if s.strip()), unready, parse_agent(lines), took)


SERVICE_FILES_SCRIPT = script("service_files.sh")


def service_files_argv(c: Container, service: Service, relative: list[str]) -> list[str]:
    """SERVICE_FILES_SCRIPT for c's new files (relative to its folder), with its service's checks and signal."""
    checks = [x for fc in service.file_checks for x in (fc.file, fc.label, fc.command)]
    return ["sh", "-c", SERVICE_FILES_SCRIPT, "sh", c.name, service_dir(c), service.mount,
            service.reload_signal or "", str(len(service.file_checks)), *checks, *relative]
