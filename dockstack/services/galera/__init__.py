"""galera: MariaDB Galera under dockstack's supervisor. Its data lives in its host folder's data/ (so it outlives
the container); before its nodes start, its `prepare` hook decides which one starts a new cluster (from every
node's grastate.dat, asking `mariadbd --wsrep-recover` where that says -1) and how many nodes the readiness check
waits for. It stops cleanly (a long stop timeout), so grastate.dat keeps its seqno, and a role's running nodes are
re-created one at a time."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from dockstack.config import ENV_KEY_RE, MAJORITY, SECRETS_MOUNT, Container
from dockstack.errors import DockstackError, RemoteError
from dockstack.remote import parallel
from dockstack.render import render
from dockstack.services import service_dir
from dockstack.services.base import BalanceCheck, Cluster, DatabaseUser, Prepared, Service
from dockstack.services.galera import bootstrap as cluster_state

MOUNT = "/var/lib/dockstack/galera"  # supervisor, clustercheck and start decision: read-only
DATA = "/var/lib/mysql"  # MariaDB's datadir: the host folder's data/
# the supervisor's own notes, the host folder's state/ (the one place under MOUNT it writes): the start decision it
# took (so a restart joins) and whether a new cluster's accounts are still to be made
STATE = f"{MOUNT}/state"
CNF = "/etc/mysql/mariadb.conf.d/99-dockstack-galera.cnf"  # written by profile::galera (Puppet)
SST_CNF = "/etc/mysql/mariadb.conf.d/98-dockstack-sst.cnf"  # wsrep_sst_auth, 0600, by the supervisor
CHECK_PORT = 9200  # the clustercheck haproxy asks (option httpchk), served in each galera container
CHECK_ANSWER = 4  # seconds the clustercheck waits for mariadbd's answer (a frozen one never answers)
STOP_TIMEOUT = 60  # seconds docker stop waits: a clean shutdown writes grastate.dat's seqno
# seconds a running node may stay outside the primary component while a member is Synced before its supervisor
# restarts mariadbd (a joiner Galera gave up on after a failed transfer): non-Primary well past a join's non-Primary
# moments; Disconnected (its cluster connection closed, never reopened by itself) after two looks in a row
REJOIN_AFTER = 20
REJOIN_DISCONNECTED = 5
REJOIN_POLL = 5  # seconds between the watchdog's looks
RESUME_HOLD = 20  # seconds a resumed node's check must keep passing: longer than Galera's evs.inactive_timeout (15 s)
REJOIN_STOP = 10  # seconds such a mariadbd gets to stop before SIGKILL (it may hang in "disconnecting")
# inside the container: the supervisor's note that the running mariadbd's accounts are set up and their passwords are
# their secret files' (the clustercheck answers 503 until then); made anew for each mariadbd it starts
ACCOUNTS_DONE = "/run/dockstack-galera/accounts-done"
PROVISION_RETRY = 5  # seconds between the supervisor's tries at setting the accounts up
# the supervisor, the health check, and what the Puppet agent runs when it changed the settings (profile::galera):
# a clean restart of mariadbd, which reads them only as it starts
START_FILES = ("entrypoint", "clustercheck", "apply-settings")
# in the container, root's only: the supervisor's notes on the mariadbd it runs (its pid, the settings it started
# with), which apply-settings compares
RUN = "/run/dockstack-galera/supervisor"  # beside ACCOUNTS_DONE, whose folder the clustercheck's user reads
SYNC_WAIT = 180  # seconds apply-settings waits for its node to be Synced before it restarts mariadbd
# MariaDB's root answers on a node's local socket only. Over the network, each registered service's own accounts
# (their `databases`), each with every right on its own databases and no other right: the supervisor makes them
# as root over the local socket
DATABASE_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")  # a database's name, and an account's
# accounts an older dockstack made over the network, dropped by the supervisor on every start: `provisioner` (it
# could create users, which in MariaDB is also renaming and altering any, root@localhost included)
RETIRED_USERS = ("provisioner",)
# who answers haproxy's clustercheck on the segment (socat's su=): an OS user with nothing, and MariaDB's account of
# the same name over unix_socket with no privilege (SHOW STATUS needs none)
CHECK_USER = "nobody"
# its generated passwords: (secrets file key, file in SECRETS_MOUNT), read by its supervisor (root) alone
ROOT_PASSWORD = ("galera_root_password", "MYSQL_ROOT_PASSWORD")  # root@localhost's besides its unix_socket
SST_PASSWORD = ("galera_sst_password", "MYSQL_SST_PASSWORD")  # the state transfer account's (mariabackup)
RETIRED_SECRETS = ("galera_provision_password",)  # the retired provisioner's, which an older secrets file holds


def declared_users(definitions: Iterable[Service]) -> list[DatabaseUser]:
    """Every database account a registered service declares, by name: a constant of this dockstack (an account of
    a service a stack does not run has rights on its own empty databases only), so the supervisor that makes them
    is one text for every stack. Raises ValueError on a definition that cannot be made safely: a name that is not
    [a-z][a-z0-9_]*, an account or a database declared twice, a password that is not its service's secret file."""
    users: dict[str, DatabaseUser] = {}
    owner: dict[str, str] = {}
    for s in definitions:
        files = dict(s.secret_files)
        for u in s.databases:
            bad = [n for n in (u.name, *u.databases) if not DATABASE_RE.fullmatch(n)]
            if bad or not u.databases:
                raise ValueError(f"{s.name}: account {u.name!r}: names {bad} are not [a-z][a-z0-9_]*, or it owns no "
                                 "database: fix the service definition")
            if u.name in users or u.name in RETIRED_USERS or u.name in ("root", CHECK_USER, "mariabackup"):
                raise ValueError(f"{s.name}: account {u.name!r} is declared twice or is galera's own")
            if files.get(u.password[0]) != u.password[1] or not ENV_KEY_RE.fullmatch(u.password[1]):
                raise ValueError(f"{s.name}: account {u.name!r}: its password {u.password} is not one of the "
                                 "service's secret_files")
            for d in u.databases:
                if d in owner:
                    raise ValueError(f"{s.name}: database {d!r} is owned by {owner[d]} already")
                owner[d] = u.name
            users[u.name] = u
    return [users[n] for n in sorted(users)]


def grant_pattern(database: str) -> str:
    """A database's name as GRANT reads it: `_` is a wildcard there (nova_api would match novaXapi), escaped."""
    return database.replace("_", "\\_")


def render_file(name: str, users: Sequence[DatabaseUser]) -> str:
    """Its supervisor (`entrypoint`, which makes the accounts `users` and their databases) or health check
    (`clustercheck`): constant for the stack."""
    return render(f"galera/{name}.sh.j2", mount=MOUNT, state=STATE, cnf=CNF, sst_cnf=SST_CNF, check_port=CHECK_PORT,
                  run=RUN, sync_wait=SYNC_WAIT, stop_timeout=STOP_TIMEOUT,
                  users=[(u.name, u.password[1], [(d, grant_pattern(d)) for d in u.databases]) for u in users],
                  retired_users=RETIRED_USERS, check_user=CHECK_USER, secrets=SECRETS_MOUNT,
                  root_password=ROOT_PASSWORD[1], sst_password=SST_PASSWORD[1],
                  rejoin_after=REJOIN_AFTER, rejoin_disconnected=REJOIN_DISCONNECTED, rejoin_poll=REJOIN_POLL,
                  rejoin_stop=REJOIN_STOP, answer_bound=CHECK_ANSWER,
                  accounts_done=ACCOUNTS_DONE, provision_retry=PROVISION_RETRY)


def nodes(cluster: Cluster) -> list[cluster_state.Node]:
    """Every configured node as the facts (and this command's own actions) show it."""
    recovered = cluster.memo.setdefault("recovered", {})
    assert isinstance(recovered, dict)
    out = []
    for c in cluster.members:
        facts = cluster.facts.get(c.host)
        text = facts.state.get(c.name) if facts else None
        out.append(cluster_state.Node(c.name, c.host, c.host not in cluster.unreachable, c.name in cluster.running,
                                      cluster_state.parse_grastate(text) if text else None, recovered.get(c.name),
                                      facts.state_problems.get(c.name) if facts else None))
    return out


def decision(cluster: Cluster) -> cluster_state.Decision:
    """cluster_state.decide over the facts; a stopped node whose grastate.dat has no seqno (-1) is asked first,
    with `mariadbd --wsrep-recover` on its data (one command per such node, in parallel)."""
    found = cluster_state.decide(nodes(cluster))
    if not found.recover:
        return found
    cluster.say(f"  galera: {found.why}")
    recovered = cluster.memo["recovered"]
    assert isinstance(recovered, dict)
    by_name = {c.name: c for c in cluster.members}

    def recover(name: str) -> tuple[str, int]:
        c, step = by_name[name], f"{name}: mariadbd --wsrep-recover"
        out = cluster.ask(c, cluster_state.recover_argv(c.image, f"{service_dir(c)}/data", DATA), step)
        position = cluster_state.parse_recovered(out)
        if position is None:
            raise RemoteError(c.host, step, out.strip() or "no recovered position in its log")
        cluster.say(f"  {name}: --wsrep-recover: {position[0]}:{position[1]}")
        return name, position[1]

    recovered.update(dict(parallel(list(found.recover), recover)))
    return cluster_state.decide(nodes(cluster))


@dataclass(frozen=True, kw_only=True)
class Galera(Service):
    hosted: tuple[DatabaseUser, ...] = ()  # the accounts its supervisor makes (set as it is registered)

    def registered(self, definitions: Iterable[Service]) -> Galera:
        """Galera serves the other services' databases: it learns their accounts here, from the registry, and gets
        each account's password as a secret file of its own (those, none of the services' other secrets)."""
        users = tuple(declared_users(definitions))
        own = tuple(f for f in self.secret_files if f not in {u.password for u in users})
        return replace(self, hosted=users, secret_files=own + tuple(u.password for u in users))

    def start_files(self, c: Container) -> dict[str, str]:
        return {name: render_file(name, self.hosted) for name in START_FILES}

    def prepare(self, cluster: Cluster, acting: tuple[Container, ...], whole: bool) -> Prepared | None:
        """Which node starts a new cluster (said, with why), and the cluster size their readiness check waits for
        (whole: every configured node, else the nodes running now plus these). Refuses when the node that must
        start the cluster is not among them: the others would wait for it in vain."""
        found = decision(cluster)
        if found.unreadable:
            where = ", ".join(f"{c.host}:{service_dir(c)}/{self.state_file}" for c in cluster.members
                              if c.name in found.unreadable)
            raise DockstackError(f"{found.why}. Look at {where}: its container can write there, and what is there "
                                 "is not a regular file; put that node's real grastate.dat back (or move its data/ "
                                 "aside: the node then joins by a full state transfer), then run the command again")
        names = {c.name for c in acting}
        if found.bootstrap and found.bootstrap not in names:
            raise DockstackError(f"no galera node is running and {found.bootstrap} must start the cluster "
                                 f"({found.why}): `inv start --name={found.bootstrap}` (or create) first, or "
                                 "`inv deploy-all`")
        size = len(cluster.members) if whole else len(names | cluster.running)
        if found.bootstrap:
            cluster.say(f"  galera: {found.bootstrap} starts the cluster: {found.why}")
        else:
            cluster.say(f"  galera: {', '.join(sorted(names))} join: {found.why}")
        # a token of this decision's own on its second line: the supervisor keeps a copy of the decision it took (in
        # its state/) and takes a new-cluster decision once, so the next one must differ even when its words do not
        decided = f"decided {secrets.token_hex(8)}\n"
        return Prepared({c.name: {"start": found.start_line(c.name) + "\n" + decided, "expected-size": f"{size}\n"}
                         for c in acting})

    def first(self, cluster: Cluster, targets: tuple[Container, ...]) -> tuple[Container, ...]:
        """The node that must start the cluster (if none runs) first, so each later node finds a member to join."""
        if len(targets) < 2:
            return targets
        first = decision(cluster).bootstrap
        return tuple(sorted(targets, key=lambda c: c.name != first))


SERVICE = Galera(
    name="galera", secret_files=(ROOT_PASSWORD, SST_PASSWORD), retired_secrets=RETIRED_SECRETS,
    # ready when the node is Synced and the cluster has as many nodes as should run
    check=f"sh {MOUNT}/clustercheck ready", check_timeout=240,
    serving_check=f"sh {MOUNT}/clustercheck primary",  # Synced in a Primary component, whatever its size
    # a node continued after SIGSTOP (or unpaused) past evs.inactive_timeout (15 s) finds it was evicted only when
    # its own timeouts expire: its check must keep passing longer than that
    resume_hold=RESUME_HOLD,
    quorum=MAJORITY,  # a primary component needs a majority of the nodes
    mount=MOUNT,
    # its folder read-only (what its supervisor runs, the start decision): the host reads grastate.dat and writes
    # the start decision there as root, so nothing in it may be the container's to plant; it writes data/ and state/
    read_only_mount=True,
    command=("sh", f"{MOUNT}/entrypoint"),
    data=(("data", DATA), ("state", STATE)),
    stop_timeout=STOP_TIMEOUT,
    state_file="data/grastate.dat",  # which node may start the cluster
    balance_check=BalanceCheck(CHECK_PORT, one_active=True, long_sessions=True),  # one node takes the writes
)
