"""What a service definition is: the one place that says how dockstack runs a service (`Service`), and what a
definition's hooks are handed (`Context` to render files, `Cluster` to decide before its containers start).

A definition is a value with a few methods; the engine (config, dockercli, converge, deploy, lifecycle) asks it for
any service alike, and knows a platform service only by its capabilities (provides_addresses, provides_catalog,
provides_vip). Loading the config sees it as a config.ServiceDefinition. A new service is one module under
dockstack/services/ and a line in registry.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from dockstack.config import ALL, Container, Network, Stack
from dockstack.facts import HostFacts
from dockstack.services import service_dir

Say = Callable[[str], None]
DRAIN_BOUND = 10  # seconds a balancer waits for a drained member's sessions to end (pooled ones never do)


@dataclass(frozen=True)
class Context:
    """What a service's files are rendered from: the config, where the dnsmasq containers answer DNS, and every
    service's definition (haproxy asks the balanced services' definitions how to check them)."""

    stack: Stack
    network: Network
    dns_servers: tuple[str, ...]
    definitions: Mapping[str, Service]

    def definition(self, service: str | None) -> Service | None:
        return self.definitions.get(service) if service else None


@dataclass
class Cluster:
    """What a definition's `prepare` hook sees of its service before some of its containers start: every configured
    member, which run, the hosts' facts, and a way to ask a host (one command, its output; raises RemoteError)."""

    members: tuple[Container, ...]
    running: frozenset[str]  # those of its members that run (as the facts and this command's actions say)
    facts: Mapping[str, HostFacts]
    unreachable: Mapping[str, str]
    ask: Callable[[Container, list[str], str], str]
    say: Say
    memo: dict[str, object] = field(default_factory=dict)  # kept across the hook's calls in one command


class Engine(Protocol):
    """What a service's own commands (galera's backup and restore) ask of the engine. tasks.py hands them one
    (lifecycle.RoleEngine): the engine sits above the services, so a service's code never imports it."""

    def facts(self, tolerate: bool = False) -> tuple[Mapping[str, HostFacts], Mapping[str, str]]:
        """Every host's facts, and the hosts that did not answer (tolerate: listed instead of raised)."""
        ...

    def check_secrets(self, hosts: Mapping[str, HostFacts]) -> None:
        """Raise when the secrets file is missing or differs from what the containers were made with, or the stack's
        CA is missing (dockstack.cacheck)."""
        ...

    def stop(self, role: str) -> None:
        """`inv stop` of a role: each container drained and stopped cleanly, the last started first."""
        ...

    def start(self, members: tuple[Container, ...]) -> None:
        """Start these containers of one role as deploy-all starts a tier (the facts read again, the service's hook
        told the whole role starts), through the one converge; raise naming each that failed."""
        ...


@dataclass(frozen=True)
class Prepared:
    """A prepare hook's answer: the extra files each starting container gets (relative to its service folder)."""

    files: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class BalanceCheck:
    """How haproxy checks a member of this service it balances: an HTTP check on a port of the member that
    answers 200 while it may serve; one_active: only the first member takes traffic, the others are backups;
    long_sessions: its clients hold pooled connections and run statements that can take minutes (a migration's DDL
    waiting its turn in the cluster), so haproxy keeps an idle session an hour, with TCP keepalives, as Kolla-Ansible
    does for MariaDB, not the one minute that cut them."""

    port: int
    one_active: bool = False
    long_sessions: bool = False


@dataclass(frozen=True)
class DatabaseUser:
    """A MariaDB account a service's containers log in with over the network, and the databases it owns. Galera's
    supervisor makes both as root over a node's local socket, from every registered service's list, with the
    password of the account's secret file (galera's containers get it too: that password and no other of the
    service's), and gives the account every right on its databases and no other right: no account that reaches
    MariaDB over the network can create, rename or alter an account, grant, or write `mysql.*`."""

    name: str  # the account: NAME@'%'
    password: tuple[str, str]  # (secrets file key, file name): one of its service's secret_files
    databases: tuple[str, ...]  # made if missing; every right on each, on nothing else


@dataclass(frozen=True)
class FileCheck:
    """A check run inside the running container on a pushed file before it replaces the old one: a shell command
    that gets the new file's path (in the container) as $1."""

    file: str
    command: str
    label: str


@dataclass(frozen=True, kw_only=True)
class Service:
    """How dockstack runs one service. Subclasses override the methods; the fields are plain data."""

    name: str  # what a role's `service:` says
    mount: str  # where the container sees its host folder (service_dir)
    command: tuple[str, ...]  # what the container runs when containers.yaml gives no command
    # what loading the config asks too (config.ServiceDefinition): its capabilities, its roles' defaults
    provides_addresses: bool = False  # DHCP and DNS for the others, and the address book
    provides_catalog: bool = False  # the server the agents of the roles with classes ask (one role at most)
    provides_vip: bool = False  # it balances the `balance:` services and holds a role's virtual IP
    reserved_ports: tuple[tuple[int, str], ...] = ()  # (port, what uses it) in its containers: never balanced
    # (secrets file key, file name): passwords dockstack makes, each a file of config.SECRETS_MOUNT in its containers
    # (root's only: the supervisor hands each process its own), never an env value
    secret_files: tuple[tuple[str, str], ...] = ()
    retired_secrets: tuple[str, ...] = ()  # secrets file keys an older dockstack made for it, no longer used
    check: str | None = None  # the readiness check of a role that gives none
    check_timeout: float = 60.0  # its bound, when the role gives none
    # seconds a failing check may be a blip its own supervisor heals (a sub-service restarted inside the container):
    # deploy-all asks a failing check again every few seconds for this long before it repairs the container
    settle: float = 0.0
    serial: int = 1  # running containers of a role a planned change takes down at once, when the role gives none
    quorum: str = ALL  # how many of a role's containers must pass for it to serve (all | majority | one | N)
    # passes while a member still serves as part of a working cluster though its readiness check fails (a Galera node
    # Primary with fewer nodes than it waits for): deploy-all never recovers a role with such a member as a whole
    serving_check: str | None = None
    # seconds its check must keep passing after a resume before it counts: a service frozen past its peers' timeouts
    # wakes up believing what it did (a Galera node still Synced in a cluster that evicted it, until it notices and
    # rejoins); 0: its first pass
    resume_hold: int = 0
    # the MariaDB accounts its containers log in with over the network, and the databases each owns: galera makes
    # them (root, on a node's local socket); the service itself manages no account
    databases: tuple[DatabaseUser, ...] = ()
    data: tuple[tuple[str, str], ...] = ()  # (subfolder of its host folder, path in the container): outlives it
    # the service only reads its folder (supervisor, scripts, config dockstack renders): mounted read-only, so a
    # process in the container cannot change what its own supervisor runs next, nor plant a symlink or a FIFO where
    # the host reads and writes as root (its data subfolders stay writable: what the service writes goes there).
    # Every shipped service is so; False only for one that must write beside its files (the host's scripts then
    # still never follow what it plants: see dockstack/scripts/service_files.sh and host_facts.sh)
    read_only_mount: bool = True
    stop_timeout: int | None = None  # seconds `docker stop` waits for a clean shutdown (None: Docker's 10 s)
    private_files: frozenset[str] = frozenset()  # files holding a secret: written readable by root only
    follows_stack: bool = False  # its files are rendered from the whole config: pushed after each tier if changed
    restart_on_change: bool = False  # a changed file needs a restart (its process never re-reads it)
    file_checks: tuple[FileCheck, ...] = ()  # run in the running container before new files replace the old
    reload_signal: str | None = None  # sent to the container's PID 1 once new files are in place
    balance_check: BalanceCheck | None = None  # how haproxy checks its members (None: a TCP connect)
    state_file: str | None = None  # a file of its folder the facts bring for its hooks (galera's grastate.dat)
    digested: tuple[str, ...] = ()  # globs in its folder of the files the facts digest, to push only what differs

    def registered(self, definitions: Iterable[Service]) -> Service:
        """This definition as the registry holds it, given every definition the registry holds: a service that
        serves the others reads what they declare here (galera: their database accounts); most are that already."""
        return self

    def cap_add(self, c: Container) -> list[str]:
        """Capabilities beyond Docker's default set."""
        return []

    def start_files(self, c: Container) -> dict[str, str]:
        """The files its PID 1 starts from (supervisor, scripts), by name in its folder: part of its spec, so files
        that differ from what this dockstack renders (a newer version) mean re-creating the container."""
        return {}

    def files(self, ctx: Context, c: Container) -> dict[str, str]:
        """Every file dockstack renders for c, relative to its folder (its start files among them)."""
        return self.start_files(c)

    def folders(self, c: Container) -> tuple[str, ...]:
        """Folders made (empty) in its folder when it is created: its data subfolders, at least."""
        return tuple(sub for sub, _ in self.data)

    def prepare(self, cluster: Cluster, acting: tuple[Container, ...], whole: bool) -> Prepared | None:
        """Before `acting` start (whole: the whole role converges, not one container): decide what they need, or
        raise DockstackError to start none of them."""
        return None

    def first(self, cluster: Cluster, targets: tuple[Container, ...]) -> tuple[Container, ...]:
        """The order in which a command that acts on several of its containers one by one takes them."""
        return targets

    def member_state(self, stack: Stack, balancer: Container, member: Container, state: str) -> list[str] | None:
        """The command run in `balancer` (one of this service's containers) that puts `member` in `state`: drain
        (no new connections; its sessions end, at most DRAIN_BOUND s, then out of service), down (stopped: out until
        its check passes), ready (back in service) or up (ready, then waits, at most DRAIN_BOUND s, until the
        balancer's own check counts it up: a roll's next member goes down only then). None: this service balances
        nothing of member's."""
        return None

    def agent_ca_argv(self, c: Container) -> list[str]:
        """The service agents ask (provides_catalog): the one command, on c's Docker host, that prints the CA
        its agents pin (parse_agent_ca reads it)."""
        raise NotImplementedError(f"{self.name} is no service that agents ask")

    def parse_agent_ca(self, c: Container, text: str) -> str:
        """What agent_ca_argv printed, checked: the CA certificate(s) agents pin."""
        raise NotImplementedError(f"{self.name} is no service that agents ask")

    def agent_challenge(self, stack: Stack, certname: str) -> str:
        """The secret the agent of certname puts into its certificate request: that name's own, derived from the
        secrets file (the server signs no other name with it)."""
        raise NotImplementedError(f"{self.name} is no service that agents ask")

    def agent_forget_argv(self, c: Container, certname: str, domain: str) -> list[str]:
        """The one command, on c's Docker host, that has c forget certname's certificate and pending request, so
        that the agent of a new container of that name, with a new key, may ask for one (the server signs no
        second certificate for a name)."""
        raise NotImplementedError(f"{self.name} is no service that agents ask")

    def catalog_digests(self, stack: Stack, domain: str) -> dict[str, str]:
        """The service agents ask: each container whose agent asks it for a catalog -> a digest of what that catalog
        depends on (its classes, the code and templates they reach, its hieradata, its node's settings), as this
        dockstack hands them to the server. A container whose recorded digest differs runs its agent again."""
        raise NotImplementedError(f"{self.name} is no service that agents ask")

    def volumes(self, c: Container) -> list[str]:
        """`docker run --volume` values: its folder (read-only when the service only reads it), and each data
        subfolder at its place."""
        base = service_dir(c)
        return [f"{base}:{self.mount}" + (":ro" if self.read_only_mount else ""),
                *(f"{base}/{sub}:{path}" for sub, path in self.data)]
