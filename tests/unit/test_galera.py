"""dockstack.services.galera: which node starts the cluster (one fixture per branch of decide), grastate.dat and
--wsrep-recover parsing, the #galera facts section, the start file an action writes, and the generated secrets."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import time

import pytest
import yaml

from dockstack import config, facts
from dockstack.errors import ConfigError
from dockstack.services import galera as galera_service
from dockstack.services import registry
from dockstack.services.galera import bootstrap
from dockstack.services.galera.bootstrap import Decision, GraState, Node
from dockstack.services.registry import facts_wanted

USERS = galera_service.declared_users(registry.DEFINITIONS.values())  # the accounts the registered galera makes
KEYS = registry.GENERATED_KEYS  # the secrets file's keys: every registered service's generated passwords
UUID = "2a3743b6-e8f3-11f1-a5ef-ca9891664c50"
OTHER_UUID = "7f000001-0000-11f1-8000-0242ac110002"


def node(name: str, seqno: int | None = None, *, running: bool = False, readable: bool = True, safe: bool = False,
         recovered: int | None = None, uuid: str = UUID, unreadable: str | None = None) -> Node:
    """A galera node: seqno None means no grastate.dat (no data yet, or unreadable: why it was not read)."""
    state = None if seqno is None else GraState(uuid, seqno, safe)
    return Node(name, f"host{name[-1]}", readable, running, state, recovered, unreadable)


FIFO = "data/grastate.dat is a FIFO, not a regular file: not read"


# --- decide: one case per branch ---------------------------------------------------------------------------

CASES = {
    "empty: the first in config order starts a new cluster": (
        [node("galera1"), node("galera2"), node("galera3")],
        Decision("galera1", "no node has data yet: galera1 (first in config order) starts a new cluster")),
    "one runs: nobody starts a cluster, all join": (
        [node("galera1", 5), node("galera2", -1, running=True), node("galera3")],
        Decision(None, "galera2 running: the others join its cluster")),
    "a host cannot be read: never a second cluster": (
        [node("galera1", 9, safe=True), node("galera2", 3), node("galera3", readable=False)],
        Decision(None, "host3 could not be read, so galera3 may be running there: no new cluster is started")),
    "a state file that is no regular file: no node is chosen, none starts": (
        [node("galera1", 9, safe=True), node("galera2", unreadable=FIFO), node("galera3", 3)],
        Decision(None, f"galera2's state on host2 cannot be read: {FIFO}, so no node can be chosen to start the "
                 "cluster", unreadable=("galera2",))),
    "a state file that is no regular file on a node that runs: all join": (
        [node("galera1", 9), node("galera2", running=True, unreadable=FIFO), node("galera3", 3)],
        Decision(None, "galera2 running: the others join its cluster")),
    "clean full stop: the highest seqno wins, not the first": (
        [node("galera1", 9), node("galera2", 11, safe=True), node("galera3", 10)],
        Decision("galera2", "galera2 has the most advanced state: seqno 11 (others: galera1 9, galera3 10)")),
    "highest seqno wins even without safe_to_bootstrap": (
        [node("galera1", 12, safe=True), node("galera2", 4), node("galera3", 14)],
        Decision("galera3", "galera3 has the most advanced state: seqno 14 (others: galera1 12, galera2 4)")),
    "killed: unknown seqnos are recovered first": (
        [node("galera1", -1), node("galera2", 7), node("galera3", -1)],
        Decision(None, "the seqno of galera1, galera3 is unknown (-1): recover it first", ("galera1", "galera3"))),
    "recovered seqnos decide": (
        [node("galera1", -1, recovered=20), node("galera2", 7), node("galera3", -1, recovered=21)],
        Decision("galera3", "galera3 has the most advanced state: seqno 21 recovered by --wsrep-recover (others: "
                 "galera1 20 recovered by --wsrep-recover, galera2 7)")),
    "a tie goes to safe_to_bootstrap": (
        [node("galera1", 15), node("galera2", 15, safe=True), node("galera3", 15)],
        Decision("galera2", "galera2 has the most advanced state: seqno 15 (others: galera1 15, galera3 15); tied "
                 "with galera1, galera3: it is the one Galera marked safe_to_bootstrap")),
    "a tie without safe_to_bootstrap goes to config order": (
        [node("galera1", -1, recovered=15), node("galera2", -1, recovered=15), node("galera3", 3)],
        Decision("galera1", "galera1 has the most advanced state: seqno 15 recovered by --wsrep-recover (others: "
                 "galera2 15 recovered by --wsrep-recover, galera3 3); tied with galera2: first in config order")),
    "a node without data joins by state transfer": (
        [node("galera1", 4), node("galera2"), node("galera3", 6)],
        Decision("galera3", "galera3 has the most advanced state: seqno 6 (others: galera1 4); galera2 without data "
                 "join by state transfer")),
    "data of another cluster is named": (
        [node("galera1", 4, uuid=OTHER_UUID), node("galera2", 8), node("galera3", 6)],
        Decision("galera2", "galera2 has the most advanced state: seqno 8 (others: galera1 4, galera3 6); the "
                 "nodes' data belong to 2 different clusters: those not of galera2's are replaced")),
    "no galera node at all": ([], Decision(None, "no galera node")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_decide(case):
    nodes, expected = CASES[case]
    assert bootstrap.decide(nodes) == expected


def test_empty_uuid_counts_as_no_data():
    """A node that never joined a cluster has grastate.dat with the all-zero uuid: it does not start one."""
    nodes = [node("galera1", -1, uuid=bootstrap.EMPTY_UUID), node("galera2", 3)]
    assert bootstrap.decide(nodes).bootstrap == "galera2"


def test_start_line_only_the_chosen_node_starts_a_cluster():
    d = Decision("galera2", "galera2 has the most advanced state: seqno 11")
    assert d.start_line("galera2") == "new-cluster galera2 has the most advanced state: seqno 11"
    assert d.start_line("galera1") == "join"
    assert Decision(None, "galera2 running").start_line("galera2") == "join"


# --- parsers -----------------------------------------------------------------------------------------------

GRASTATE = f"""# GALERA saved state
version: 2.1
uuid:    {UUID}
seqno:   11
safe_to_bootstrap: 1
"""


def test_parse_grastate():
    assert bootstrap.parse_grastate(GRASTATE) == GraState(UUID, 11, True)
    assert bootstrap.parse_grastate(GRASTATE.replace("seqno:   11", "seqno:   -1").replace(": 1\n", ": 0\n")) == \
        GraState(UUID, -1, False)


@pytest.mark.parametrize("text", ["", "uuid: nope\nseqno: 3\n", f"uuid: {UUID}\nseqno: x\n", f"uuid: {UUID}\n"])
def test_parse_grastate_refuses_what_is_not_one(text):
    assert bootstrap.parse_grastate(text) is None


def test_parse_recovered_takes_the_last_position():
    log = (f"2026-11-25 17:12:33 0 [Note] WSREP: Recovered position: {UUID}:14\n"
           f"2026-11-25 17:12:34 0 [Note] WSREP: Recovered position: {UUID}:15\n")
    assert bootstrap.parse_recovered(log) == (UUID, 15)
    assert bootstrap.parse_recovered("2026-11-25 0 [ERROR] Aborting\n") is None


def test_facts_state_section_brings_each_nodes_grastate():
    text = "\n".join(["#dockerd", "up", "#state", "galera1 dir", *(f"galera1 = {x}" for x in GRASTATE.splitlines()),
                      "galera2 dir", "#files", "#end"])
    found = facts.parse_host_facts(text).state
    assert {n: bootstrap.parse_grastate(t) if t else None for n, t in found.items()} == {
        "galera1": GraState(UUID, 11, True), "galera2": None}


def test_the_facts_read_grastate_of_every_galera_folder_because_the_definition_says_so():
    books, state, digests = facts_wanted()
    assert ("galera", "data/grastate.dat") in state and books == "dnsmasq"
    assert ("haproxy", "*") in digests and ("dnsmasq", "dnsmasq.conf") in digests


def test_recover_argv_passes_values_as_arguments():
    argv = bootstrap.recover_argv("dockstack/galera:bookworm", "/var/lib/dockstack/galera/galera1/data",
                                  "/var/lib/mysql")
    assert argv[:3] == ["sh", "-c", bootstrap.RECOVER_SCRIPT]
    assert argv[3:] == ["sh", "dockstack/galera:bookworm", "/var/lib/dockstack/galera/galera1/data", "/var/lib/mysql"]
    assert "--wsrep-recover" in bootstrap.RECOVER_SCRIPT and "--network none" in bootstrap.RECOVER_SCRIPT


# The recovery container, played here: `docker run ... IMAGE -c SCRIPT` runs SCRIPT with sh, where mkdir, chown and
# mariadbd are fakes too; mariadbd "logs" $FAKEBIN_STATE/mariadbd.log to stderr (its --log-error) and exits with
# the code in $FAKEBIN_STATE/mariadbd.exit.
FAKE_RECOVER_DOCKER = 'while [ "$1" != -c ]; do shift; done\nexec sh -c "$2"\n'
FAKE_MARIADBD = ('cat "$FAKEBIN_STATE/mariadbd.log" >&2\n'
                 'exit "$(cat "$FAKEBIN_STATE/mariadbd.exit" 2>/dev/null || echo 0)"\n')


@pytest.fixture
def recover(fakebin):
    """Runs recover_argv's command for a node with the given mariadbd log (and exit code)."""
    fakebin.add("docker", FAKE_RECOVER_DOCKER)
    fakebin.add("mariadbd", FAKE_MARIADBD)
    fakebin.add("mkdir")
    fakebin.add("chown")

    data = fakebin.state / "galera1" / "data"
    data.mkdir(parents=True)

    def run(log: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        (fakebin.state / "mariadbd.log").write_text(log)
        (fakebin.state / "mariadbd.exit").write_text(f"{code}\n")
        return fakebin.run(bootstrap.recover_argv("dockstack/galera:bookworm", str(data), "/var/lib/mysql"))

    run.data = data  # type: ignore[attr-defined]

    return run


def test_recover_script_runs_wsrep_recover_offline_and_prints_the_positions(recover, fakebin):
    log = "".join(f"2026-11-25 17:12:3{i} 0 [Note] WSREP: Recovered position: {UUID}:{i}\n"
                  f"2026-11-25 17:12:3{i} 0 [Note] InnoDB: noise {i}\n" for i in range(11, 15))
    proc = recover(log)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"2026-11-25 17:12:3{i} 0 [Note] WSREP: Recovered position: {UUID}:{i}"
                                        for i in (12, 13, 14)]  # the last three, no noise
    assert bootstrap.parse_recovered(proc.stdout) == (UUID, 14)
    docker = fakebin.calls("docker")[0]
    assert docker.startswith(f"docker run --rm --network none --entrypoint sh --volume {recover.data}:/var/lib/mysql "
                             "dockstack/galera:bookworm -c "), docker
    assert fakebin.calls("mkdir", "chown") == ["mkdir -p /run/mysqld", "chown mysql:mysql /run/mysqld"]
    mariadbd = fakebin.calls("mariadbd")[0].split(" ")
    assert {"--user=mysql", "--wsrep-on=ON", "--wsrep-recover", "--wsrep-cluster-address=gcomm://",
            "--log-error=/dev/stderr"} <= set(mariadbd[1:])


def test_recover_script_passes_errors_on(recover):
    proc = recover("2026-11-25 0 [Note] Starting\n2026-11-25 0 [ERROR] Can't open the data folder\n"
                   "2026-11-25 0 [ERROR] Aborting\n", code=1)
    assert proc.stdout.splitlines() == ["2026-11-25 0 [ERROR] Can't open the data folder",
                                        "2026-11-25 0 [ERROR] Aborting"]
    assert bootstrap.parse_recovered(proc.stdout) is None


def test_recover_script_never_mounts_a_data_folder_that_is_a_symlink(recover, fakebin, tmp_path):
    """docker's --volume would follow a symlink in place of the node's data folder (to a folder of the host)."""
    recover.data.rmdir()
    recover.data.symlink_to(tmp_path)
    proc = recover("")
    assert proc.returncode == 1 and "is not a folder of its own" in proc.stdout, proc
    assert fakebin.calls("docker") == []


# --- the supervisor and the check, as rendered -------------------------------------------------------------


def test_rendered_supervisor_and_check():
    entry = galera_service.render_file("entrypoint", USERS)
    check = galera_service.render_file("clustercheck", USERS)
    assert f"cnf={galera_service.CNF}" in entry
    assert "--wsrep-new-cluster" in entry and "new-cluster*)" in entry
    # the decision taken is noted before mariadbd starts: a restart never starts a second cluster
    assert entry.index("mode=$(start_mode)") < entry.index("set -- --wsrep-new-cluster")
    assert "TCP-LISTEN:9200,reuseaddr,fork EXEC:\"sh $dir/clustercheck http\",su=nobody &" in entry  # never as root
    # and with nothing of the supervisor's environment (the passwords): socat's children inherit socat's
    assert '\nenv -i PATH="$PATH" socat TCP-LISTEN:9200,' in entry
    assert "/var/lib/dockstack/galera/expected-size" in check and "wsrep_cluster_size" in check
    # no joiner or client before a new cluster's accounts exist; the SST password only in a 0600 file in the container
    assert check.index("/var/lib/dockstack/galera/state/set-passwords") < check.index('code="200 OK"')
    assert "umask 077" in entry and '> "$sst_cnf"' in entry and f"sst_cnf={galera_service.SST_CNF}" in entry


def run_clustercheck(tmp_path, mariadb: str) -> subprocess.CompletedProcess[str]:
    """`clustercheck ready` with a stand-in mariadb (its body: shell) and an expected size of 3."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mariadb").write_text(f"#!/bin/sh\n{mariadb}\n")
    (bin_dir / "mariadb").chmod(0o755)
    (tmp_path / "expected-size").write_text("3\n")
    script = tmp_path / "clustercheck"
    script.write_text(galera_service.render_file("clustercheck", USERS).replace(galera_service.MOUNT, str(tmp_path)))
    return subprocess.run(["sh", str(script), "ready"], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"})


def test_clustercheck_asks_mariadbd_and_a_mariadbd_that_never_answers_is_down_within_its_bound(tmp_path):
    """A mariadbd stopped with SIGSTOP takes the socket's connection and answers nothing: the check says down in
    CHECK_ANSWER s instead of hanging until whoever runs it gives up."""
    synced = ("printf 'wsrep_local_state_comment\\tSynced\\nwsrep_cluster_status\\tPrimary\\n"
              "wsrep_cluster_size\\t3\\nwsrep_ready\\tON\\n'")
    proc = run_clustercheck(tmp_path, synced)
    assert (proc.returncode, proc.stdout) == (0, "state=Synced cluster=Primary size=3 want=3\n")
    started = time.monotonic()
    proc = run_clustercheck(tmp_path, "exec sleep 60")
    assert (proc.returncode, proc.stdout) == (1, "state=down cluster=none size=0 want=3\n")
    assert time.monotonic() - started < galera_service.CHECK_ANSWER + 3


# --- generated secrets -------------------------------------------------------------------------------------


def test_generated_secrets_made_once_0600(tmp_path):
    containers = tmp_path / "stack.yaml"
    first = config.generated_secrets(containers, KEYS)
    path = tmp_path / "stack.secrets.yaml"
    assert first.path == str(path)
    assert not path.exists()  # loading never writes: the commands that start containers save them
    assert first.save() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    root, sst = first.values["galera_root_password"], first.values["galera_sst_password"]
    assert config.GENERATED_RE.fullmatch(root) and config.GENERATED_RE.fullmatch(sst) and root != sst
    assert config.generated_secrets(containers, KEYS).values == first.values  # read again, not made again
    files = dict(first.files_for(registry.DEFINITIONS["galera"]))
    assert {k: files[k] for k in ("MYSQL_ROOT_PASSWORD", "MYSQL_SST_PASSWORD")} == {"MYSQL_ROOT_PASSWORD": root,
                                                                                    "MYSQL_SST_PASSWORD": sst}
    # and the password of each account it makes for the other services (test_galera_accounts.py)
    assert set(files) - {"MYSQL_ROOT_PASSWORD", "MYSQL_SST_PASSWORD"} == {u.password[1] for u in USERS}


def test_generated_secrets_keeps_what_exists_and_adds_what_is_missing(tmp_path):
    keep = "K" * 32
    (tmp_path / "stack.secrets.yaml").write_text(yaml.safe_dump({"galera_root_password": keep}))
    got = config.generated_secrets(tmp_path / "stack.yaml", KEYS)
    assert got.values["galera_root_password"] == keep
    assert config.GENERATED_RE.fullmatch(got.values["galera_sst_password"])
    assert "galera_sst_password" in got.made and "galera_root_password" not in got.made
    assert got.save()
    assert yaml.safe_load((tmp_path / "stack.secrets.yaml").read_text()) == got.values
    assert not config.generated_secrets(tmp_path / "stack.yaml", KEYS).save()  # all there: nothing to write


def test_generated_secrets_bad_value_names_file_and_key(tmp_path):
    (tmp_path / "stack.secrets.yaml").write_text(yaml.safe_dump({"galera_root_password": "short'"}))
    with pytest.raises(ConfigError) as e:
        config.generated_secrets(tmp_path / "stack.yaml", KEYS)
    assert "stack.secrets.yaml" in str(e.value) and "galera_root_password" in str(e.value)
    assert "short'" not in str(e.value)


def test_galera_containers_get_the_password_masked(cfg):
    cfg.add_puppet_server()
    cfg.containers["roles"].append({"name": "db", "service": "galera", "classes": ["profile::galera"],
                                    "depends_on": ["puppet"]})
    cfg.containers["containers"].append({"name": "db1", "role": "db", "host": "h1", "image": "test/base:bookworm"})
    _, st = cfg.load()
    secrets = dict(st.container("db1").secrets)
    assert st.container("db1").env == ()  # files, never env values
    for pw in (secrets["MYSQL_ROOT_PASSWORD"], secrets["MYSQL_SST_PASSWORD"]):
        assert pw in st.secret_values
        assert pw not in st.mask(f"said {pw}")
    assert "MYSQL_ROOT_PASSWORD" not in dict(st.container(st.containers[0].name).secrets)  # only galera nodes


@pytest.mark.parametrize("value", ["it's-a-secret-password-123", "short1", "x" * 129, "pass word with spaces 24ch"])
def test_a_galera_password_override_that_could_break_out_of_sql_is_refused_unquoted(cfg, value, config_error):
    cfg.add_puppet_server()
    cfg.containers["roles"].append({"name": "db", "service": "galera", "classes": ["profile::galera"],
                                    "depends_on": ["puppet"]})
    cfg.containers["containers"].append({"name": "db1", "role": "db", "host": "h1", "image": "test/base:bookworm",
                                         "env": {"MYSQL_ROOT_PASSWORD": value}})
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[3].env.MYSQL_ROOT_PASSWORD", "is not 24-128 letters and digits")
    assert value not in str(e.value) and "secrets.yaml" in str(e.value)


def test_a_galera_password_override_of_letters_and_digits_is_used(cfg):
    cfg.add_puppet_server()
    cfg.containers["roles"].append({"name": "db", "service": "galera", "classes": ["profile::galera"],
                                    "depends_on": ["puppet"]})
    cfg.containers["containers"].append({"name": "db1", "role": "db", "host": "h1", "image": "test/base:bookworm",
                                         "env": {"MYSQL_ROOT_PASSWORD": "A" * 24}})
    _, st = cfg.load()
    db1 = st.container("db1")
    assert dict(db1.secrets)["MYSQL_ROOT_PASSWORD"] == "A" * 24  # where the generated one would go: its file
    assert [n for n, _ in db1.secrets].count("MYSQL_ROOT_PASSWORD") == 1  # instead of the generated one
    assert "galera_root_password" not in dict(db1.generated)
    assert dict(db1.env) == {"MYSQL_ROOT_PASSWORD_FILE": "/run/secrets/MYSQL_ROOT_PASSWORD"}


# --- the services' hooks in the converge: one recover round trip per unknown seqno, the start lines, the refusal


class FakeResult:
    def __init__(self, stdout: str) -> None:
        self.stdout, self.stderr, self.exit_code, self.ok = stdout, "", 0, True


class FakeRemote:
    """Answers `mariadbd --wsrep-recover` with a seqno per host, and counts the round trips."""

    def __init__(self, seqno: int, calls: list[str]) -> None:
        self.seqno, self.calls = seqno, calls

    def run(self, argv: list[str], step: str, **kw) -> FakeResult:
        self.calls.append(step)
        return FakeResult(f"2026-11-25 0 [Note] WSREP: Recovered position: {UUID}:{self.seqno}\n")


def grastate_text(state: GraState | None) -> str | None:
    """grastate.dat as a node writes it, as the facts bring it."""
    if state is None:
        return None
    return (f"version: 2.1\nuuid: {state.uuid}\nseqno: {state.seqno}\n"
            f"safe_to_bootstrap: {int(state.safe_to_bootstrap)}\n")


def executor(container, grastates: dict, running: set[str], recovered: dict[str, int] | None = None,
             problems: dict[str, str] | None = None):
    from dockstack.addressbook import Book
    from dockstack.config import Role, Stack
    from dockstack.converge import open_session
    from dockstack.facts import ContainerState, HostFacts
    from dockstack.world import World

    nodes = [container(f"galera{i}", role="galera", host=f"host{i}") for i in (1, 2, 3)]
    web = container("web", role="web", host="host1")  # another service's container, running: no galera member
    stack = Stack("containers.yaml", (), (Role("galera", service="galera"), Role("web")), (*nodes, web))
    hosts = {c.host: HostFacts({c.name: ContainerState(c.name, c.name in running, 1, c.image, "sha256:x", {}),
                                **({web.name: ContainerState(web.name, True, 1, web.image, "sha256:y", {})}
                                   if c.host == web.host else {})},
                               {}, {}, state={c.name: grastate_text(grastates.get(c.name))},
                               state_problems={n: p for n, p in (problems or {}).items() if n == c.name})
             for c in nodes}
    calls: list[str] = []
    remotes = {c.host: FakeRemote((recovered or {}).get(c.name, 0), calls) for c in nodes}
    said: list[str] = []
    session = open_session(None, stack, remotes, World(hosts, Book(), {}, ()), said.append)  # type: ignore[arg-type]
    return session.hooks, nodes, calls, said


def test_prepare_recovers_unknown_seqnos_then_starts_the_most_advanced(container):
    states = {n: GraState(UUID, -1, False) for n in ("galera1", "galera2", "galera3")}
    ex, nodes, calls, said = executor(container, states, set(), {"galera1": 5, "galera2": 9, "galera3": 7})
    ex.prepare(nodes, whole=True)
    assert sorted(calls) == [f"galera{i}: mariadbd --wsrep-recover" for i in (1, 2, 3)]  # one round trip each
    started = [line for line in said if line.startswith("  galera: galera2 starts the cluster: ")]
    assert len(started) == 1
    why = started[0].partition("starts the cluster: ")[2]
    assert "galera2 has the most advanced state: seqno 9 recovered by --wsrep-recover" in why
    assert start_files(ex) == {"galera1": ("join", "3"), "galera2": (f"new-cluster {why}", "3"),
                               "galera3": ("join", "3")}


def test_prepare_joins_a_running_node_without_round_trips(container):
    ex, nodes, calls, _ = executor(container, {"galera2": GraState(UUID, -1, False)}, {"galera1", "galera3"})
    ex.prepare([nodes[1]])
    assert calls == []
    assert start_files(ex) == {"galera2": ("join", "3")}  # the two running plus itself


def test_prepare_refuses_a_node_that_would_wait_for_the_most_advanced_one(container):
    from dockstack.errors import DockstackError

    states = {"galera1": GraState(UUID, 4, False), "galera2": GraState(UUID, 8, True)}
    ex, nodes, _, _ = executor(container, states, set())
    with pytest.raises(DockstackError) as e:
        ex.prepare([nodes[0]])
    assert "galera2 must start the cluster" in str(e.value) and "inv start --name=galera2" in str(e.value)
    assert start_files(ex) == {}


def test_prepare_refuses_to_choose_while_a_nodes_state_cannot_be_read(container):
    """A stopped node whose grastate.dat is a FIFO (its container planted it): no node starts the cluster, and the
    error names the node, its host and the file, and how to fix it; nothing is prepared."""
    from dockstack.errors import DockstackError

    states = {"galera1": GraState(UUID, 4, False), "galera3": GraState(UUID, 8, True)}
    ex, nodes, calls, _ = executor(container, states, set(), problems={"galera2": FIFO})
    with pytest.raises(DockstackError) as e:
        ex.prepare(nodes, whole=True)
    said = str(e.value)
    assert f"galera2's state on host2 cannot be read: {FIFO}" in said
    assert "host2:/var/lib/dockstack/galera/galera2/data/grastate.dat" in said and "grastate.dat back" in said
    assert start_files(ex) == {} and calls == []


def start_files(ex) -> dict[str, tuple[str, str]]:
    """node -> (its start file's line, the cluster size its check waits for), as the hook prepared them."""
    prepared = {c.name: ex.prepared(c.name) for c in ex.stack.containers}
    for f in prepared.values():  # each decision with a token of its own on its second line
        assert not f or re.fullmatch(r"[^\n]+\ndecided [0-9a-f]{16}\n", f["start"]), f
    return {n: (f["start"].splitlines()[0], f["expected-size"].rstrip("\n")) for n, f in prepared.items() if f}


def test_facts_after_a_grastate_without_its_last_newline_still_have_the_files(tmp_path):
    """A node killed mid-write can leave grastate.dat without its final newline: the real facts script, run
    here on a service folder (docker a stub), still reads the next section (else every file looked changed)."""
    root = tmp_path / "root"
    (root / "galera" / "galera1" / "data").mkdir(parents=True)
    (root / "galera" / "galera1" / "data" / "grastate.dat").write_text(
        "# GALERA saved state\nversion: 2.1\nuuid:    57367630-ea9a-11f1-9ec4-7fbd6987d806\nseqno:   -1\n"
        "safe_to_bootstrap: 0\n  ")  # as found after `docker kill`: no newline at its end
    (root / "dnsmasq" / "dnsmasq").mkdir(parents=True)
    (root / "dnsmasq" / "dnsmasq" / "dnsmasq.conf").write_text("no-ping\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "docker").chmod(0o755)
    argv = facts.host_facts_argv("org.dockstack.managed", str(root), "nobr0", "novx0", None, [], *facts_wanted())
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}).stdout
    host = facts.parse_host_facts(out)
    conf = f"{root}/dnsmasq/dnsmasq/dnsmasq.conf"
    assert host.files == {conf: hashlib.sha256(b"no-ping\n").hexdigest()}, out
    assert bootstrap.parse_grastate(host.state["galera1"] or "").seqno == -1, out


def test_remove_stops_a_cleanly_stopping_service_first(fakebin):
    """STOP_SCRIPT with `remove` (a definition with a stop timeout: galera): every process of the container is
    continued (a SIGSTOPped one would never see the signal), docker stop, then docker rm --force, even when the stop
    fails (a container that is not running)."""
    from dockstack.actions import STOP_SCRIPT

    fakebin.add("docker", '[ "$1" = top ] && printf "PID\\n" && exit 0\n[ "$1" = stop ] && exit 1\necho "$2 $3"\n')
    proc = fakebin.run(["sh", "-c", STOP_SCRIPT, "sh", "galera1", "remove"])
    assert proc.returncode == 0 and proc.stdout == "--force galera1\n"
    assert fakebin.calls() == ["docker top galera1 -eo pid", "docker stop galera1", "docker rm --force galera1"]


def test_stop_continues_every_process_of_the_container_first(fakebin):
    """A hung service (a process stopped by SIGSTOP) is continued before docker stop, so it sees the signal at once:
    a real stopped process, which the fake `docker top` lists as the container's."""
    import signal

    from dockstack.actions import STOP_SCRIPT

    hung = subprocess.Popen(["sleep", "60"])
    try:
        os.kill(hung.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while _proc_state(hung.pid) != "T" and time.monotonic() < deadline:  # the signal arrives a moment later
            time.sleep(0.01)
        assert _proc_state(hung.pid) == "T"
        fakebin.add("docker", f'[ "$1" = top ] && printf "PID\\n{hung.pid}\\n" && exit 0\necho stopped\n')
        proc = fakebin.run(["sh", "-c", STOP_SCRIPT, "sh", "galera1"])
        assert proc.returncode == 0 and proc.stdout == "stopped\n"
        assert fakebin.calls() == ["docker top galera1 -eo pid", "docker stop galera1"]
        assert _proc_state(hung.pid) != "T"  # running again, no longer stopped
    finally:
        hung.kill()
        hung.wait()


def _proc_state(pid: int) -> str:
    return open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0]


# --- the supervisor's rejoin watchdog ----------------------------------------------------------------------


def watchdog_driver(tmp_path, mariadbd_ends_after: float | None) -> str:
    """A driver for the rendered supervisor's own watchdog functions (fast timings): a `mariadbd` that ignores
    SIGTERM (as one hanging in "disconnecting" does), a peer whose clustercheck answers Synced."""
    from dockstack.render import render

    entry = render("galera/entrypoint.sh.j2", mount="/x", state="/x/state", cnf=str(tmp_path / "cnf"), sst_cnf="/x/sst",
                   check_port=9200, run="/x/run",
                   rejoin_after=30, rejoin_disconnected=1, rejoin_poll=1, rejoin_stop=1,
                   users=[("u", "U_PASSWORD", [("d", "d")])], retired_users=["old"], check_user="nobody",
                   secrets="/x/secrets", root_password="R", sst_password="S", accounts_done="/x/done",
                   provision_retry=1)
    (tmp_path / "cnf").write_text("wsrep_cluster_address = gcomm://peer1.lab,peer2.lab\n")
    body = ""
    for name in ("log", "peers", "synced_peer", "rejoin_watchdog"):
        rest = entry[entry.index(f"\n{name}() {{") + 1:]
        first = rest[:rest.index("\n") + 1]
        body += first if first.rstrip().endswith("}") else rest[:rest.index("\n}\n") + 3]
    stopper = f"(sleep {mariadbd_ends_after}; kill -KILL $pid) &" if mariadbd_ends_after else ""
    return (f"cnf={tmp_path / 'cnf'}\n{body}\n"
            "sh -c 'trap \"\" TERM; while :; do sleep 0.1; done' & pid=$!\n"
            f"{stopper}\nrejoin_watchdog $pid\n"
            "case $(ps -o stat= -p $pid) in Z*|'') echo mariadbd-gone ;;\n"
            "  *) echo mariadbd-alive; kill -KILL $pid ;; esac\n")


def test_watchdog_kills_a_disconnected_mariadbd_that_hangs_in_its_stop_and_says_why(tmp_path, fakebin):
    """Galera closed a joiner's cluster connection after a short IST: Disconnected while a peer is Synced is
    restarted after REJOIN_DISCONNECTED, and a mariadbd that ignores SIGTERM is killed after REJOIN_STOP (it hung
    60 s in "disconnecting" before: a full stop took 100 s)."""
    fakebin.add("mariadb", "printf 'wsrep_cluster_status\\tDisconnected\\n'\n")
    fakebin.add("socat", "printf 'HTTP/1.1 200 OK\\r\\n'\n")
    started = time.monotonic()
    out = fakebin.run(["bash", "-c", watchdog_driver(tmp_path, None)])
    took = time.monotonic() - started
    assert out.stdout.splitlines()[-1] == "mariadbd-gone", out
    assert "outside the primary component (Disconnected) for " in out.stdout, out
    assert "while peer1.lab is Synced: restarting mariadbd to join again" in out.stdout, out
    assert "mariadbd did not stop within 1 s outside the cluster: killing it" in out.stdout, out
    assert took < 10, (took, out)


def test_watchdog_leaves_a_member_of_the_primary_component_alone(tmp_path, fakebin):
    fakebin.add("mariadb", "printf 'wsrep_cluster_status\\tPrimary\\n'\n")
    fakebin.add("socat", "printf 'HTTP/1.1 200 OK\\r\\n'\n")
    out = fakebin.run(["bash", "-c", watchdog_driver(tmp_path, 3.5)])
    assert out.stdout.splitlines() == ["mariadbd-gone"], out
    assert "restarting" not in out.stdout + out.stderr


def test_a_new_cluster_decision_is_taken_once_and_the_next_one_again_whatever_its_words(tmp_path):
    """The supervisor's start_mode, run on a folder: the folder it reads is read-only to it, so it notes the decision
    it took in its state/; a restart (the same file) joins; the next decision dockstack writes, with a token of its
    own, is taken even when its words are the same; with nowhere to note it, no new cluster is started."""
    entry = galera_service.render_file("entrypoint", USERS)
    rest = entry[entry.index("\nstart_mode() {") + 1:]
    driver = f'dir={tmp_path}\nstate={tmp_path}/state\n{rest[:rest.index(chr(10) + "}" + chr(10)) + 3]}start_mode\n'
    (tmp_path / "state").mkdir()

    def mode(start: str | None) -> tuple[int, str]:
        if start is not None:
            (tmp_path / "start").write_text(start)
        got = subprocess.run(["sh", "-c", driver], capture_output=True, text=True, timeout=10)
        return got.returncode, got.stdout

    assert mode(None) == (0, "join\n")  # no decision yet
    assert mode("new-cluster galera1 first\ndecided 0123456789abcdef\n") == (0, "new-cluster galera1 first\n")
    assert mode(None) == (0, "join\n") and mode(None) == (0, "join\n")  # restarts
    assert mode("new-cluster galera1 first\ndecided fedcba9876543210\n") == (0, "new-cluster galera1 first\n")
    assert mode("join\ndecided 00000000000000aa\n") == (0, "join\n")
    (tmp_path / "state" / "started").unlink()
    (tmp_path / "state").rmdir()
    (tmp_path / "state").write_text("")  # no folder to note a decision in
    assert mode("new-cluster galera1 again\ndecided 1111111111111111\n")[0] != 0


def test_a_joiner_asks_the_member_it_found_synced_for_its_transfer_first():
    entry = galera_service.render_file("entrypoint", USERS)
    join = entry[entry.index('log "joining through $peer"'):]
    assert join.index('set -- "--wsrep_sst_donor=$peer,"') < join.index('env -i PATH="$PATH" mariadbd')


# --- apply-settings: what the Puppet agent runs when it changed the wsrep settings -----------------------------


@pytest.fixture
def settings_scene(tmp_path, fakebin):
    """apply-settings rendered for tmp_path (fast bounds), a `mariadb` that answers from $FAKEBIN_STATE, and a
    process named mariadbd as the supervisor noted it (its pid, the settings it started with)."""
    from dockstack.render import render

    script = render("galera/apply-settings.sh.j2", mount="/x", cnf=str(tmp_path / "cnf"), run=str(tmp_path / "run"),
                    sync_wait=1, stop_timeout=5)
    fakebin.add("mariadb", 'case "$*" in *wsrep_local_state_comment*) f=state ;; *) f=size ;; esac\n'
                           'printf "x\\t%s\\n" "$(cat "$FAKEBIN_STATE/$f")"\n')
    (fakebin.state / "state").write_text("Synced\n")
    (fakebin.state / "size").write_text("3\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "cnf").write_text("[mysqld]\nmax_connect_errors = 10001\n")
    (tmp_path / "run" / "settings").write_text("[mysqld]\n")
    mariadbd = tmp_path / "mariadbd"
    mariadbd.symlink_to("/bin/sleep")  # its command name: mariadbd
    proc = subprocess.Popen([str(mariadbd), "60"])
    (tmp_path / "run" / "pid").write_text(f"{proc.pid}\n")
    yield script, proc
    proc.kill()
    proc.wait()


def apply_settings(fakebin, script: str) -> subprocess.CompletedProcess[str]:
    return fakebin.run(["sh", "-c", script])


def test_changed_settings_restart_a_synced_mariadbd_cleanly_and_wait_for_it_to_end(settings_scene, fakebin):
    script, mariadbd = settings_scene
    out = apply_settings(fakebin, script)
    assert out.returncode == 0 and "mariadbd stops cleanly" in out.stdout, out
    assert mariadbd.poll() is not None  # ended before the script did: the readiness check sees the new one only


def test_differs_is_what_the_agents_exec_asks_first(settings_scene, fakebin, tmp_path):
    script, mariadbd = settings_scene
    assert fakebin.run(["sh", "-c", script, "sh", "differs"]).returncode == 0
    (tmp_path / "run" / "settings").write_text((tmp_path / "cnf").read_text())
    assert fakebin.run(["sh", "-c", script, "sh", "differs"]).returncode == 1
    (tmp_path / "run" / "pid").unlink()
    assert fakebin.run(["sh", "-c", script, "sh", "differs"]).returncode == 1
    assert mariadbd.poll() is None and not fakebin.calls("mariadb")


def test_the_same_settings_or_no_mariadbd_leave_it_alone(settings_scene, fakebin, tmp_path):
    script, mariadbd = settings_scene
    (tmp_path / "run" / "settings").write_text((tmp_path / "cnf").read_text())
    out = apply_settings(fakebin, script)
    assert (out.returncode, mariadbd.poll()) == (0, None) and "nothing to do" in out.stdout
    (tmp_path / "run" / "settings").write_text("[mysqld]\n")
    other = subprocess.Popen(["sleep", "60"])  # a pid the supervisor noted, now another process's: not mariadbd
    try:
        (tmp_path / "run" / "pid").write_text(f"{other.pid}\n")
        out = apply_settings(fakebin, script)
        assert (out.returncode, other.poll()) == (0, None) and "nothing to do" in out.stdout
        (tmp_path / "run" / "pid").unlink()  # a first start: the supervisor has not started it yet
        assert "nothing to do" in apply_settings(fakebin, script).stdout
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize(("state", "size", "said"), [("Synced", "1", "alone in its cluster"),
                                                     ("Joining", "3", "not Synced after 1 s")])
def test_a_node_that_could_not_join_back_is_not_restarted_and_the_agent_says_why(settings_scene, fakebin, state,
                                                                                  size, said):
    script, mariadbd = settings_scene
    (fakebin.state / "state").write_text(state + "\n")
    (fakebin.state / "size").write_text(size + "\n")
    out = apply_settings(fakebin, script)
    assert out.returncode == 1 and said in out.stdout and mariadbd.poll() is None, out


def test_the_supervisor_notes_the_settings_and_pid_of_each_mariadbd_it_starts():
    entry = galera_service.render_file("entrypoint", USERS)
    start = entry[entry.index('cp "$cnf" "$run/settings"'):]
    assert start.index('cp "$cnf"') < start.index("mariadbd --user=mysql") < start.index('echo "$child" > "$run/pid"')
    assert f"run={galera_service.RUN}" in entry and "apply-settings" in galera_service.START_FILES


def test_the_galera_profile_runs_apply_settings_while_the_running_mariadbds_settings_differ():
    from dockstack.services import puppet

    manifest = puppet.module_files()["profile/manifests/galera.pp"]
    assert f"command => '/bin/sh {galera_service.MOUNT}/apply-settings'," in manifest
    assert f"onlyif  => '/bin/sh {galera_service.MOUNT}/apply-settings differs'," in manifest
