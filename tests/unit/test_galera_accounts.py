"""No account that reaches MariaDB over the network can manage accounts: galera's supervisor makes each service's
account and databases as root over a node's local socket, from the services' declared list, with the passwords of
its secret files; the openstack container holds its own accounts' passwords only and makes no account."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from dockstack import config
from dockstack.errors import ConfigError
from dockstack.services import galera as galera_service
from dockstack.services import openstack as openstack_service
from dockstack.services import registry
from dockstack.services.base import DatabaseUser, Service
from tests.unit.conftest import make_container

USERS = galera_service.declared_users(registry.DEFINITIONS.values())
GALERA = registry.DEFINITIONS["galera"]
ENTRYPOINT = GALERA.start_files(make_container("galera1"))["entrypoint"]


SST_FILE = galera_service.SST_PASSWORD[1]


def supervisor_functions(tmp_path: Path, passwords: dict[str, str], *names: str) -> str:
    """The shipped supervisor's own functions `names` (with `secret` and `sql`), for sh, with these secret files
    (file name -> content) in place of /run/secrets, and $sst_pw set as the supervisor sets it."""
    folder = tmp_path / "secrets"
    folder.mkdir(exist_ok=True)
    for name, value in passwords.items():
        (folder / name).write_text(value)
    text = ENTRYPOINT.replace("/run/secrets", str(folder))
    body = "log() { echo \"log: $*\"; }\n"
    for name in ("secret", "sql", *names):
        rest = text[text.index(f"\n{name}() {{") + 1:]
        first = rest[:rest.index("\n") + 1]
        body += first if first.rstrip().endswith("}") else rest[:rest.index("\n}\n") + 3]
    return body + f"sst_pw=$(secret {SST_FILE})\n"


def provisioning_sql(tmp_path: Path, passwords: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The SQL the shipped supervisor pipes into `mariadb` as root (its own `provision_sql`, run by sh)."""
    body = supervisor_functions(tmp_path, {SST_FILE: "Sst0123456789abcdefghijkl", **passwords}, "provision_sql")
    return subprocess.run(["sh", "-c", body + "provision_sql\n"], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin"})


def passwords_of(users: list[DatabaseUser]) -> dict[str, str]:
    return {u.password[1]: f"{u.name.replace('_', '')}Pw{'0' * 24}" for u in users}


def test_galera_makes_each_declared_account_with_its_own_databases_and_no_other_right(tmp_path):
    passwords = passwords_of(USERS)
    proc = provisioning_sql(tmp_path, passwords)
    assert proc.returncode == 0, proc.stderr
    sql = proc.stdout.splitlines()
    for u in USERS:
        pw = passwords[u.password[1]]
        assert f"CREATE USER IF NOT EXISTS '{u.name}'@'%' IDENTIFIED BY '{pw}';" in sql
        for d in u.databases:
            assert f"CREATE DATABASE IF NOT EXISTS `{d}`;" in sql
    # the state transfer account's rights, local only; every other grant is on one database, to one network account
    local = "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'mariabackup'@'localhost';"
    grants = [re.fullmatch(r"GRANT ALL PRIVILEGES ON `([a-z0-9_\\]+)`\.\* TO '(\w+)'@'%';", x) for x in sql
              if x.startswith("GRANT") and x != local]
    assert all(grants), sql  # every grant is on one database, to one account: no *.*, no GRANT OPTION
    # a name's `_` is escaped: GRANT reads it as a wildcard (nova_api would match novaXapi)
    assert sorted((m.group(2), m.group(1).replace("\\_", "_")) for m in grants if m) == sorted(
        (u.name, d) for u in USERS for d in u.databases)
    assert not any("_" in m.group(1).replace("\\_", "") for m in grants if m)  # none unescaped
    # the accounts an older dockstack made, and a network root, go; the clustercheck's local account stays
    assert "DROP USER IF EXISTS 'provisioner'@'%';" in sql and "DROP USER IF EXISTS 'root'@'%';" in sql
    assert "CREATE USER IF NOT EXISTS 'nobody'@'localhost' IDENTIFIED VIA unix_socket;" in sql
    assert not any(re.search(r"GRANT\s+(CREATE USER|ALL PRIVILEGES ON \*)|WITH GRANT OPTION|mysql\.", x) for x in sql)
    assert sum(x.startswith("CREATE USER") and "'%'" in x for x in sql) == len(USERS)
    # no password is set on every start any more (realign sets those that differ): a new account gets its file's
    assert not any(x.startswith("ALTER USER") for x in sql)
    # the state transfer account too, with its rights, should a data folder lack it
    assert "CREATE USER IF NOT EXISTS 'mariabackup'@'localhost' IDENTIFIED BY 'Sst0123456789abcdefghijkl';" in sql
    assert local in sql


def test_an_account_whose_password_file_is_missing_or_bad_is_left_out_and_said(tmp_path):
    passwords = passwords_of(USERS)
    keystone = next(u for u in USERS if u.name == "keystone").password[1]
    nova = next(u for u in USERS if u.name == "nova").password[1]
    passwords[nova] = "with'quote" + "0" * 24  # it would break out of the SQL
    proc = provisioning_sql(tmp_path, {k: v for k, v in passwords.items() if k != keystone})
    assert proc.returncode == 0
    assert "'keystone'@'%'" not in proc.stdout and "'nova'@'%'" not in proc.stdout and "quote" not in proc.stdout
    assert "'glance'@'%'" in proc.stdout  # the others are made all the same
    assert f"/secrets/{keystone} is missing, or not letters and digits" in proc.stderr
    assert f"/secrets/{nova} is missing, or not letters and digits" in proc.stderr


def test_the_provisioning_runs_as_root_on_the_local_socket_once_synced_and_primary_and_is_tried_again():
    body = ENTRYPOINT[ENTRYPOINT.index("\nprovision() {"):]
    body = body[:body.index("\n}\n") + 3]
    assert "provision_sql | mariadb && realign" in body  # no -h, no -u: root over the local socket (unix_socket)
    assert body.index('= "Synced Primary" ]') < body.index("provision_sql | mariadb")
    # tried again as long as its mariadbd runs; the clustercheck's note only once it is done
    assert 'while kill -0 "$1" 2>/dev/null; do' in body
    assert body.index("&& realign; then") < body.index(': > "$accounts_done"') < body.rindex("return 0")
    assert '\n  provision "$child" &\n' in ENTRYPOINT
    # each mariadbd's accounts are set up anew: the note goes before it starts
    assert ENTRYPOINT.index('rm -f "$accounts_done"') < ENTRYPOINT.index('mariadbd --user=mysql "$@" &')


# --- passwords in step with the data ---------------------------------------------------------------------------


def realigned(tmp_path: Path, passwords: dict[str, str], drifted: list[str],
              fail_alter: bool = False) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The supervisor's `realign` with a stand-in mariadb: the drift query (on its standard input) answers `drifted`;
    every statement it is given is recorded, in order."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    said, statements = tmp_path / "drifted", tmp_path / "statements"
    said.write_text("".join(f"{line}\n" for line in drifted))
    (bin_dir / "mariadb").write_text(
        f'#!/bin/sh\nin=$(cat)\nprintf "%s\\n" "$in" >> {statements}\n'
        f'case $in in SELECT*) cat {said} ;; ALTER*) exit {1 if fail_alter else 0} ;; esac\n')
    (bin_dir / "mariadb").chmod(0o755)
    body = supervisor_functions(tmp_path, passwords, "accounts", "drift_sql", "realign")
    proc = subprocess.run(["sh", "-c", body + "realign\n"], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    return proc, statements.read_text().splitlines() if statements.exists() else []


def test_the_drift_query_asks_each_account_with_its_files_password_and_leaves_out_one_without(tmp_path):
    passwords = {SST_FILE: "Sst0123456789abcdefghijkl", **passwords_of(USERS)}
    keystone = next(u for u in USERS if u.name == "keystone").password[1]
    del passwords[keystone]
    body = supervisor_functions(tmp_path, passwords, "accounts", "drift_sql")
    proc = subprocess.run(["sh", "-c", body + "drift_sql\n"], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin"})
    queries = proc.stdout.splitlines()
    expected = [("mariabackup", "localhost", passwords[SST_FILE])] + [
        (u.name, "%", passwords[u.password[1]]) for u in USERS if u.name != "keystone"]
    assert queries == [f"SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User = '{n}' AND Host = '{h}' AND NOT "
                       f"(plugin = 'mysql_native_password' AND authentication_string = PASSWORD('{pw}'));"
                       for n, h, pw in expected]


def test_an_account_whose_password_differs_gets_its_files_and_is_named_never_its_password(tmp_path):
    """After destroy-all with a lost secrets file: the data's passwords are the old ones. Only the accounts the
    drift query names are altered (one the database names that is not in the list is not), each said once."""
    passwords = {SST_FILE: "NewSst0123456789abcdefghij", **passwords_of(USERS)}
    nova = next(u for u in USERS if u.name == "nova")
    proc, statements = realigned(tmp_path, passwords, ["mariabackup@localhost", "nova@%", "intruder@%"])
    assert proc.returncode == 0, proc.stderr
    alters = [x for x in statements if x.startswith("ALTER")]
    assert alters == ["ALTER USER 'mariabackup'@'localhost' IDENTIFIED BY 'NewSst0123456789abcdefghij';",
                      f"ALTER USER 'nova'@'%' IDENTIFIED BY '{passwords[nova.password[1]]}';"]
    assert proc.stdout.splitlines() == [
        f"log: the password of mariabackup@localhost was not its secret file's ({SST_FILE}): set to it, on every node",
        f"log: the password of nova@% was not its secret file's ({nova.password[1]}): set to it, on every node"]
    assert not any(pw in proc.stdout + proc.stderr for pw in passwords.values())


def test_nothing_is_altered_when_every_password_is_its_files_and_a_failed_alter_fails_it(tmp_path):
    passwords = {SST_FILE: "Sst0123456789abcdefghijkl", **passwords_of(USERS)}
    proc, statements = realigned(tmp_path, passwords, [])
    assert proc.returncode == 0 and proc.stdout == ""
    assert statements and all(x.startswith("SELECT") for x in statements)
    proc, _ = realigned(tmp_path, passwords, ["mariabackup@localhost"], fail_alter=True)
    assert proc.returncode == 1  # the supervisor tries the whole batch again, and the clustercheck says 503 meanwhile
    assert proc.stdout.strip().endswith(f"setting the password of mariabackup@localhost to its secret file's "
                                        f"({SST_FILE}) failed")


def test_the_clustercheck_answers_503_until_this_mariadbds_accounts_are_set_up(tmp_path):
    """A joiner picks its donor by a 200 (synced_peer): a donor whose mariabackup password is still the data's would
    fail the SST's login."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mariadb").write_text("#!/bin/sh\nprintf 'wsrep_local_state_comment\\tSynced\\n"
                                     "wsrep_cluster_status\\tPrimary\\nwsrep_cluster_size\\t3\\n'\n")
    (bin_dir / "mariadb").chmod(0o755)
    done = tmp_path / "accounts-done"
    check = tmp_path / "clustercheck"
    check.write_text(GALERA.start_files(make_container("galera1"))["clustercheck"]
                     .replace(galera_service.ACCOUNTS_DONE, str(done)).replace(galera_service.MOUNT, str(tmp_path)))

    def answer() -> str:
        return subprocess.run(["sh", str(check), "http"], input="GET / HTTP/1.0\r\n", capture_output=True, text=True,
                              timeout=30, env={"PATH": f"{bin_dir}:/usr/bin:/bin"}).stdout
    assert answer().startswith("HTTP/1.1 503 ") and "accounts not set up yet" in answer()
    done.write_text("")
    assert answer().startswith("HTTP/1.1 200 OK")


def test_galera_gets_the_passwords_of_the_accounts_it_makes_and_no_other_secret_of_theirs():
    files = dict(GALERA.secret_files)
    own = {galera_service.ROOT_PASSWORD[0], galera_service.SST_PASSWORD[0]}
    assert set(files) == own | {u.password[0] for u in USERS}
    assert not {"openstack_admin_password", "rabbitmq_password", "keystone_fernet_secret", "horizon_secret_key",
                "glance_service_password", "redis_password", "puppet_challenge_password"} & set(files)
    assert "galera_provision_password" in GALERA.retired_secrets and "galera_provision_password" not in files


def test_the_openstack_container_holds_its_own_accounts_passwords_and_no_galera_secret(cfg):
    cfg.add_puppet_server()
    cfg.containers["roles"] += [
        {"name": "db", "service": "galera", "classes": ["profile::galera"], "depends_on": ["puppet"]},
        {"name": "cloud", "service": "openstack", "classes": ["profile::openstack"], "depends_on": ["db"]}]
    cfg.containers["containers"] += [
        {"name": "db1", "role": "db", "host": "h1", "image": "test/base:bookworm"},
        {"name": "os1", "role": "cloud", "host": "h1", "image": "test/base:bookworm"}]
    _, st = cfg.load()
    cloud, db = dict(st.container("os1").generated), dict(st.container("db1").generated)
    assert not {"galera_root_password", "galera_sst_password", "galera_provision_password"} & set(cloud)
    assert {st.generated.values["galera_root_password"], st.generated.values["galera_sst_password"]}.isdisjoint(
        dict(st.container("os1").secrets).values())
    shared = set(cloud) & set(db)  # the database passwords, the same value in both: galera makes the accounts
    assert shared == {u.password[0] for u in openstack_service.DATABASE_USERS}
    assert all(cloud[k] == db[k] for k in shared)


def test_the_openstack_supervisor_makes_no_account_and_logs_in_with_its_own():
    entry = openstack_service.render_file("entrypoint")
    for statement in ("CREATE USER", "ALTER USER", "GRANT ", "CREATE DATABASE", "DROP USER"):
        assert statement not in entry, statement
    # each service's connection URL: its own account, that account's password, one of its databases
    by_name = {u.name: u for u in openstack_service.DATABASE_USERS}
    urls = re.findall(r'\$\(db_url (\w+) "\$(\w+)" (\w+)\)', entry)
    assert {u for u, _, _ in urls} == set(openstack_service.SERVICES)
    for user, variable, database in urls:
        assert by_name[user].password[1] == variable and database in by_name[user].databases, (user, database)
    # the supervisor's own record, as the record's account; nova's cells as nova
    assert f'client_cnf /root/.my.cnf {openstack_service.RECORD_USER} "$RECORD_DB_PASSWORD"' in entry
    assert 'client_cnf /root/.my-nova.cnf nova "$NOVA_DB_PASSWORD"' in entry
    assert "mariadb --defaults-file=/root/.my-nova.cnf -N -e \"SELECT COUNT(*) FROM nova_api.cell_mappings" in entry
    record = by_name[openstack_service.RECORD_USER]
    assert record.databases == (openstack_service.MIGRATIONS_DB,)
    assert f"CREATE TABLE IF NOT EXISTS {openstack_service.MIGRATIONS_DB}.migrations" in entry


@pytest.mark.parametrize(("users", "said"), [
    ((DatabaseUser("a-b", ("k", "K_PASSWORD"), ("d",)),), "are not [a-z][a-z0-9_]*"),
    ((DatabaseUser("a", ("k", "K_PASSWORD"), ("d;drop",)),), "are not [a-z][a-z0-9_]*"),
    ((DatabaseUser("a", ("k", "K_PASSWORD"), ()),), "owns no database"),
    ((DatabaseUser("root", ("k", "K_PASSWORD"), ("d",)),), "galera's own"),
    ((DatabaseUser("provisioner", ("k", "K_PASSWORD"), ("d",)),), "galera's own"),
    ((DatabaseUser("a", ("k", "K_PASSWORD"), ("d",)), DatabaseUser("a", ("k", "K_PASSWORD"), ("e",))), "twice"),
    ((DatabaseUser("a", ("k", "K_PASSWORD"), ("d",)), DatabaseUser("b", ("k", "K_PASSWORD"), ("d",))), "owned by a"),
    ((DatabaseUser("a", ("other", "K_PASSWORD"), ("d",)),), "is not one of the service's secret_files"),
])
def test_a_definition_whose_accounts_cannot_be_made_safely_is_refused(users, said):
    s = Service(name="x", mount="/x", command=("true",), secret_files=(("k", "K_PASSWORD"),), databases=users)
    with pytest.raises(ValueError, match=re.escape(said)):
        galera_service.declared_users([s])


def test_every_account_password_is_a_generated_secret_named_as_one():
    for u in USERS:
        assert u.password[0] in registry.GENERATED_KEYS and config.is_secret(u.password[1]), u


def test_a_containers_yaml_value_of_a_password_galera_shares_is_refused(cfg, config_error):
    """Galera makes the account with the secrets file's value: an override on the openstack container alone would
    lock its service out, so it is refused, pointing to the secrets file (never quoting the value)."""
    cfg.add_puppet_server()
    cfg.containers["roles"] += [
        {"name": "db", "service": "galera", "classes": ["profile::galera"], "depends_on": ["puppet"]},
        {"name": "cloud", "service": "openstack", "classes": ["profile::openstack"], "depends_on": ["db"]}]
    cfg.containers["containers"] += [
        {"name": "db1", "role": "db", "host": "h1", "image": "test/base:bookworm"},
        {"name": "os1", "role": "cloud", "host": "h1", "image": "test/base:bookworm",
         "env": {"KEYSTONE_DB_PASSWORD": "Mine0123456789Mine012345"}}]
    with pytest.raises(ConfigError) as e:
        cfg.load()
    config_error(e, cfg.containers_path, "containers[4].env.KEYSTONE_DB_PASSWORD",
                 "share this secret with the galera containers", "keystone_db_password")
    assert "Mine0123456789Mine012345" not in str(e.value)
    cfg.containers["containers"][-1]["env"] = {"OS_ADMIN_PASSWORD": "Mine0123456789Mine012345"}  # its own alone
    assert dict(cfg.load()[1].container("os1").secrets)["OS_ADMIN_PASSWORD"] == "Mine0123456789Mine012345"
