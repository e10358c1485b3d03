"""Container actions as values: each remote call the converge makes is a frozen spec (ActionSpec, StopSpec,
ExecSpec) that turns itself into one constant script's argv, values passed as arguments, never pasted; an
action's report is parsed by a pure function.

create/recreate/start/restart (ACTION_SCRIPT): write the env file, the secret files and the service files
(standard input), `docker run` (or start), give the container its eth0 on the bridge with the planned MAC, a static
IP or a DHCP lease (the host's udhcpc in the container's network namespace, DHCP_HOOK its script), print the MAC
and IP it ended with, run its Puppet agent (roles with classes), then poll the role's readiness check. A create that
fails before the container has an address removes the container again, so nothing is left half-made. agent: the
running container as it is (no env, secrets, files, start or address): its agent again, then its check.
"""

from __future__ import annotations

import io
import math
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockstack import dockercli, network
from dockstack.agent import AGENT_SCRIPT, DIGEST_FILE, AgentPin, AgentRun, parse_agent
from dockstack.config import ENV_KEY_RE, Container, Network, Role
from dockstack.facts import CATALOG_DIGEST_RE, parse_ipv4, parse_link_mac
from dockstack.ipam import AddressPlan
from dockstack.plan import RUN_AGENT, RUN_CREATE, RUN_RECREATE, RUN_RESTART, RUN_RESUME, RUN_START
from dockstack.scripts import script
from dockstack.services import secrets_dir, service_dir
from dockstack.services.base import Service
from dockstack.settings import agent_timeout, dhcp_timeout, step_timeout

CREATE, RECREATE, START, RESTART, RESUME, AGENT = (RUN_CREATE, RUN_RECREATE, RUN_START, RUN_RESTART, RUN_RESUME,
                                             RUN_AGENT)
CHECK_POLL = 0.2  # seconds between readiness probes

# The one script of an action (see above): dockstack/scripts/action.sh, its named values from ActionSpec.argv.
ACTION_SCRIPT = script("action.sh")
# udhcpc's script, which checks a lease and applies it in the container's network namespace: dockstack/scripts/
# dhcp_hook.sh, handed to ACTION_SCRIPT (dhcp_hook=) for a container without a static IP.
DHCP_HOOK = script("dhcp_hook.sh")
# Where ACTION_SCRIPT writes that hook for udhcpc to run, one file per action: root's, on the host, beside no
# container's folder (no container mounts it), so nothing a container writes is ever run in its place.
DHCP_DIR = "/var/lib/dockstack-dhcp"
# A clean stop (and remove): dockstack/scripts/stop.sh, called by StopSpec.
STOP_SCRIPT = script("stop.sh")
# A service container's files installed in its host folder (never through a symlink its container planted there):
# dockstack/scripts/service_files.sh, run by the action script for a create or start, and on its own to push new
# files to a running container (service_files_argv).
SERVICE_FILES_SCRIPT = script("service_files.sh")

def time_bound(role: Role) -> float:
    """How long one action may take in all: docker run or start, DHCP, the Puppet agent (roles with classes),
    the readiness check, and slack."""
    return step_timeout() + dhcp_timeout() + (agent_timeout() if role.classes else 0) + math.ceil(role.check_timeout)


def files_payload(files: Mapping[str, str], dirs: tuple[str, ...] = (), private: frozenset[str] = frozenset(),
                  secrets: Mapping[str, str] | None = None) -> bytes:
    """Path -> text (and empty folders), as a tar.gz that `tar -xzf - -C DIR` (or -C / for absolute paths) writes in
    place; files whose name is in private (they hold a secret) readable by root only; secrets (absolute path ->
    value: a container's secret files, secret_files) read-only for root, in folders only root enters. (The action
    script gets a container's secrets as lines, secret_lines, never in this tar, which goes to its service folder:
    secrets= is for a tar unpacked at /, the benchmark floor's.)"""
    buf = io.BytesIO()
    secrets = secrets or {}
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        def add(path: str, data: bytes | None, mode: int) -> None:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        for path in dirs:
            add(path, None, 0o755)
        for path, text in sorted(files.items()):
            add(path, text.encode(), 0o600 if path.rpartition("/")[2] in private else 0o644)
        for folder in sorted({p.rpartition("/")[0] for p in secrets}):
            add(folder, None, 0o700)
        for path, value in sorted(secrets.items()):
            add(path, value.encode(), 0o400)
    return buf.getvalue()


def secret_files(c: Container) -> dict[str, str]:
    """c's secret files as they go to its host: path in its secrets folder -> value."""
    return {f"{secrets_dir(c)}/{name}": value for name, value in c.secrets}


def secret_lines(c: Container) -> str:
    """c's secret files as the action script reads them on its standard input (after the env lines): one
    NAME=VALUE a line, NAME the file's name in its secrets folder, VALUE its content (no newline). Raises
    ValueError on a name that is not a plain file name or a value that would not stay on its line (config refused
    both already: this is the action script's framing, checked where it is made)."""
    for name, value in c.secrets:
        if not ENV_KEY_RE.fullmatch(name) or "\n" in value or "\r" in value:
            raise ValueError(f"{c.name}: secret {name!r}: not a file name of [A-Za-z_][A-Za-z0-9_]*, or a value "
                             "with a line break")
    return "".join(f"{name}={value}\n" for name, value in c.secrets)


@dataclass(frozen=True)
class ActionSpec:
    """One action script run, every value named: what ACTION_SCRIPT reads (`KEY=VALUE` words, then `--` and docker
    run's arguments) and its standard input (the agent's challenge, the env file's lines, the secret files' lines,
    the service files), which the host's process list never shows."""

    mode: str  # create | recreate | start | restart | resume | agent
    name: str
    host: str
    mac: str  # "" : whatever the veth gets (a lease's MAC comes from dnsmasq's data otherwise)
    cidr: str  # a static address with its prefix; "": a DHCP lease
    gateway: str
    subnet: str  # the container network (NETWORK/PREFIX): a lease must be an address of it
    mtu: int
    bridge: str
    host_veth: str
    tmp_veth: str
    dhcp_timeout: int
    check: str  # the readiness check ("": none)
    check_timeout: int
    poll: float
    env_lines: int  # KEY=VALUE lines on standard input (create and recreate)
    files: bool  # a tar.gz of service files follows on standard input
    folder: str  # where they go: the container's service folder (their paths in the tar are relative to it)
    secrets: str  # the container's secrets folder on the host: its old files go before the new ones are written
    secret_lines: int  # NAME=VALUE lines on standard input, after the env lines: its secret files (every mode)
    agent_server: str  # "": no Puppet agent runs
    certname: str
    agent_ca: str
    digest: str  # recorded in digest_file once the agent passed ("": nothing is recorded)
    digest_file: str
    run: tuple[str, ...]  # docker run's arguments after `docker run` (create and recreate)
    timeout: float  # how long the whole round trip may take
    dhcp_dir: str = DHCP_DIR  # the host folder of udhcpc's script (a lease only)
    hold: int = 0  # seconds the check must keep passing before it counts (a resume: its service's resume_hold)
    stdin: bytes = field(default=b"", repr=False)

    def named(self) -> list[tuple[str, str]]:
        """The script's values, by the names it reads them under."""
        return [("mode", self.mode), ("name", self.name), ("mac", self.mac), ("cidr", self.cidr),
                ("gateway", self.gateway), ("subnet", self.subnet), ("mtu", str(self.mtu)), ("bridge", self.bridge),
                ("host_veth", self.host_veth), ("tmp_veth", self.tmp_veth),
                ("dhcp_timeout", str(self.dhcp_timeout)), ("dhcp_hook", "" if self.cidr else DHCP_HOOK),
                ("dhcp_dir", "" if self.cidr else self.dhcp_dir), ("check", self.check),
                ("check_timeout", str(self.check_timeout)), ("poll", f"{self.poll:g}"),
                ("files", "1" if self.files else "0"), ("folder", self.folder),
                ("files_script", SERVICE_FILES_SCRIPT if self.files else ""), ("secrets", self.secrets),
                ("secret_lines", str(self.secret_lines)), ("env_lines", str(self.env_lines)),
                ("agent_server", self.agent_server), ("certname", self.certname),
                ("agent_script", AGENT_SCRIPT if self.agent_server else ""), ("agent_ca", self.agent_ca),
                ("digest", self.digest), ("digest_file", self.digest_file), ("hold", str(self.hold))]

    def argv(self) -> list[str]:
        return ["sh", "-c", ACTION_SCRIPT, "sh", *(f"{k}={v}" for k, v in self.named()), "--", *self.run]

    @property
    def step(self) -> str:
        return f"{self.name}: {self.mode}"


def action_spec(mode: str, c: Container, role: Role, net: Network, plan: AddressPlan, dns_servers: list[str],
                files: dict[str, str], dirs: tuple[str, ...] = (), private: frozenset[str] = frozenset(),
                agent: AgentPin | None = None, hold: int = 0) -> ActionSpec:
    """The one remote call of a create, recreate, start, restart or agent run. With an agent (AgentPin), the Puppet
    agent runs after addressing, before the check, and its digest is recorded once it passed; its challenge, the
    env values and the files go on standard input. files and dirs: absolute paths in c's service folder, where the
    action installs them. Its secret files go with every mode that starts it, as lines before the files
    (secret_lines): its secrets folder is in /run, which a host's restart empties; an agent run leaves the running
    container's as they are."""
    hv, tmp = network.veth_names(c.name)
    folder = service_dir(c)
    rel_files = {in_folder(folder, p): t for p, t in files.items()}
    rel_dirs = tuple(in_folder(folder, d) for d in dirs)
    creates = mode in (CREATE, RECREATE)
    if agent and agent.digest and not CATALOG_DIGEST_RE.fullmatch(agent.digest):
        raise ValueError(f"{c.name}: {agent.digest!r} is no catalog digest (64 hex digits)")
    challenge = f"{agent.challenge}\n".encode() if agent else b""
    env = dockercli.env_file(c).encode() if creates else b""
    secrets = secret_lines(c).encode() if mode != AGENT else b""
    return ActionSpec(
        mode=mode, name=c.name, host=c.host, mac=plan.mac or "",
        cidr=f"{plan.static_ip}/{net.subnet.prefixlen}" if plan.static_ip else "",
        gateway=str(net.gateway) if net.gateway else "", subnet=str(net.subnet), mtu=net.mtu, bridge=net.bridge,
        host_veth=hv, tmp_veth=tmp,
        dhcp_timeout=dhcp_timeout(), check=role.check or "", check_timeout=math.ceil(role.check_timeout),
        poll=CHECK_POLL, env_lines=len(c.env) if creates else 0, files=bool(files), folder=folder if files else "",
        secrets=secrets_dir(c) if mode != AGENT else "", secret_lines=len(c.secrets) if mode != AGENT else 0,
        agent_server=agent.server if agent else "", certname=agent.certname if agent else "",
        agent_ca=agent.ca if agent else "", digest=agent.digest if agent else "",
        digest_file=f"{folder}/{DIGEST_FILE}" if agent and agent.digest else "",
        run=tuple(dockercli.run_argv(c, net, dns_servers)[2:]) if creates else (),  # after `docker run`
        timeout=time_bound(role), hold=hold,
        stdin=challenge + env + secrets + (files_payload(rel_files, rel_dirs, private) if files else b""))


def in_folder(folder: str, path: str) -> str:
    """path relative to folder, which must hold it: a service's files go to its own folder and nowhere else."""
    rel = path.removeprefix(f"{folder}/")
    if rel == path or not rel or any(part in ("", ".", "..") for part in rel.split("/")):
        raise ValueError(f"{path!r} is not a path in {folder}")
    return rel


@dataclass(frozen=True)
class StopSpec:
    """A container stopped (or removed) on a host. clean: its service stops cleanly within stop_timeout (galera
    writes its seqno), so every process is continued and `docker stop` runs first (STOP_SCRIPT), even before a
    remove; otherwise a remove is a plain `docker rm --force`."""

    name: str
    host: str
    remove: bool
    clean: bool
    timeout: float

    def argv(self) -> list[str]:
        if self.remove and not self.clean:
            return ["docker", "rm", "--force", self.name]
        return ["sh", "-c", STOP_SCRIPT, "sh", self.name, *(["remove"] if self.remove else [])]

    @property
    def step(self) -> str:
        return f"{self.name}: docker {'rm' if self.remove else 'stop'}"


DOCKER_STOP_TIMEOUT = 10  # seconds: what `docker stop` waits after the stop signal when `docker run` set none


def stop_timeout_of(d: Service | None) -> int | None:
    """How long a container's clean stop may take: its service's stop timeout, else Docker's default (every
    service's processes get their stop signal before a remove too); None for a container that runs no service of
    dockstack's (a plain `docker rm --force` is fine)."""
    if d is None:
        return None
    return d.stop_timeout if d.stop_timeout is not None else DOCKER_STOP_TIMEOUT


def stop_spec(name: str, host: str, stop_timeout: int | None, remove: bool) -> StopSpec:
    """How a stop or remove of a container whose service stops within stop_timeout (None: Docker's own 10 s, no
    clean stop needed before a remove) is run, and how long it may take."""
    wait = stop_timeout if stop_timeout is not None else (0 if remove else DOCKER_STOP_TIMEOUT)
    return StopSpec(name, host, remove, stop_timeout is not None or not remove, step_timeout() + wait)


@dataclass(frozen=True)
class ExecSpec:
    """A command run inside a running container (`docker exec`), e.g. a balancer told to drain a member."""

    container: str
    host: str
    command: tuple[str, ...]
    step: str
    timeout: float

    def argv(self) -> list[str]:
        return ["docker", "exec", self.container, *self.command]


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
    resumed: str = ""  # resume: what it resumed (unpaused, continued PIDs)


def parse_action(text: str) -> ActionResult:
    started, ready, failed, unready, said, link, addr, resumed = False, False, None, None, [], "", "", ""
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
        elif kind == "resumed":
            resumed = rest
        elif kind == "took":
            step, _, ms = rest.partition(" ")
            if step in ("addressing", "check") and ms.strip().isdigit():
                took[step] = int(ms) / 1000
    if failed is None and not ready:
        failed = "action"  # the script ended early without saying why
    return ActionResult(started, parse_link_mac(link), parse_ipv4(addr), ready, failed,
                        "; ".join(s.strip() for s in said if s.strip()), unready, parse_agent(lines), took,
                        resumed)


def service_files_argv(c: Container, service: Service, relative: list[str]) -> list[str]:
    """SERVICE_FILES_SCRIPT for c's new files (relative to its folder), with its service's checks and signal."""
    checks = [x for fc in service.file_checks for x in (fc.file, fc.label, fc.command)]
    return ["sh", "-c", SERVICE_FILES_SCRIPT, "sh", c.name, service_dir(c), service.reload_signal or "",
            str(len(service.file_checks)), *checks, *relative]
