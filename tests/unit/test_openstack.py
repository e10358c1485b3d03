"""service: openstack: its generated secrets, the files dockstack renders for it, and the health check's verdict as
`inv status` shows it."""

from __future__ import annotations

import os
import re
import stat
import subprocess

import yaml

from dockstack import config
from dockstack.config import ROOT
from dockstack.services import openstack as openstack_service
from dockstack.services import registry

OPENSTACK_SECRETS = {"RECORD_DB_PASSWORD", "OS_ADMIN_PASSWORD", "RABBITMQ_PASSWORD", "HORIZON_SECRET_KEY",
                 "KEYSTONE_FERNET_SECRET", "KEYSTONE_DB_PASSWORD", "GLANCE_DB_PASSWORD", "PLACEMENT_DB_PASSWORD",
                 "NOVA_DB_PASSWORD", "NEUTRON_DB_PASSWORD", "CINDER_DB_PASSWORD", "GLANCE_SERVICE_PASSWORD",
                 "PLACEMENT_SERVICE_PASSWORD", "NOVA_SERVICE_PASSWORD", "NEUTRON_SERVICE_PASSWORD",
                 "CINDER_SERVICE_PASSWORD"}


def _stack(cfg):
    cfg.add_puppet_server()
    cfg.containers["roles"] += [
        {"name": "db", "service": "galera", "classes": ["profile::galera"], "depends_on": ["puppet"]},
        {"name": "cloud", "service": "openstack", "classes": ["profile::openstack"], "depends_on": ["db"]}]
    cfg.containers["containers"] += [
        {"name": "db1", "role": "db", "host": "h1", "image": "test/base:bookworm"},
        {"name": "os1", "role": "cloud", "host": "h1", "image": "test/base:bookworm"}]
    return cfg.load()[1]


def test_openstack_containers_get_their_generated_secrets_as_files_masked(cfg):
    st = _stack(cfg)
    assert st.container("os1").env == () and st.container("db1").env == ()  # none in the environment
    env = dict(st.container("os1").secrets)
    assert set(env) == OPENSTACK_SECRETS
    assert all(config.is_secret(k, ()) for k in env)  # secret by their names too (an override in env: a file)
    for v in env.values():
        assert config.GENERATED_RE.fullmatch(v) and v in st.secret_values and v not in st.mask(f"x {v} y")
    assert len(set(env.values())) == len(env)  # every password its own
    galera = dict(st.container("db1").secrets)
    # galera makes its database accounts: it has their passwords, the same; never MariaDB's root or SST password
    accounts = {u.password[1] for u in openstack_service.DATABASE_USERS}
    assert {k: galera[k] for k in accounts} == {k: env[k] for k in accounts}
    assert galera["MYSQL_ROOT_PASSWORD"] not in env.values() and galera["MYSQL_SST_PASSWORD"] not in env.values()
    # galera nodes get no other OpenStack password
    assert set(galera) == {"MYSQL_ROOT_PASSWORD", "MYSQL_SST_PASSWORD"} | accounts


def _settings_harness(tmp_path, settings: dict[str, str], files: dict[str, str], after: str = "",
                      env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The entrypoint's reading of Puppet's settings file and of its secret files, run by bash on these settings
    and these files (in tmp_path/secrets, for /run/secrets); it prints `accepted` when it goes on, then runs
    `after`."""
    entry = openstack_service.render_file("entrypoint").replace("/run/secrets", f"{tmp_path}/secrets")
    part = entry[entry.index("declare -A ep=()"):entry.index("db_host=")]
    path = tmp_path / "openstack.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    secrets = tmp_path / "secrets"
    if secrets.exists():
        for f in secrets.iterdir():
            f.unlink()
    secrets.mkdir(exist_ok=True)
    for name, value in files.items():
        (secrets / name).write_text(value)
    script = f'log() {{ echo "$*"; }}\nsettings={path}\n{part}echo accepted\n{after}'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})


def test_the_supervisor_needs_every_setting_puppet_writes_and_every_secret_file_the_definition_gives(tmp_path):
    pp = (ROOT / "puppet/modules/profile/manifests/openstack.pp").read_text()
    block = pp[pp.index("$settings = {"):pp.index("\n  }\n", pp.index("$settings = {"))]
    assert sorted(re.findall(r"^\s+'(\w+)'\s+=>", block, re.M)) == sorted(openstack_service.SETTINGS_KEYS)
    settings = {k: "vip.dockstack.lab:5000" for k in openstack_service.SETTINGS_KEYS}
    files = {name: "A0" * 12 for _, name in openstack_service.SECRET_FILES}  # 24 letters and digits
    assert set(files) == OPENSTACK_SECRETS  # what the container is given (test_openstack_containers_get_...)
    proc = _settings_harness(tmp_path, settings, files)
    assert proc.stdout == "accepted\n", proc.stdout + proc.stderr
    for key in openstack_service.SETTINGS_KEYS:
        proc = _settings_harness(tmp_path, {k: v for k, v in settings.items() if k != key}, files)
        assert proc.returncode == 1 and proc.stdout.endswith(f"openstack.env lacks {key}\n"), proc.stdout
    for name in files:
        for other in (None, "short", "A0" * 11 + "'x"):
            given = {k: v for k, v in files.items() if k != name} | ({name: other} if other is not None else {})
            proc = _settings_harness(tmp_path, settings, given)
            assert proc.returncode == 1 and proc.stdout.startswith(f"{tmp_path}/secrets/{name} is missing "), \
                proc.stdout


def test_the_supervisor_reads_each_secret_into_a_variable_no_process_inherits(tmp_path):
    """Read from its files, each secret is a variable of the supervisor's own shell: not exported, even when the
    environment it started with named it (a child such as `env` sees none of them)."""
    settings = {k: "vip.dockstack.lab:5000" for k in openstack_service.SETTINGS_KEYS}
    files = {name: f"{name.replace('_', '')}{'0' * 24}"[:64] for _, name in openstack_service.SECRET_FILES}
    proc = _settings_harness(tmp_path, settings, files, after='echo "$KEYSTONE_DB_PASSWORD"; env\n',
                             env={"KEYSTONE_DB_PASSWORD": "fromtheenvironment"})
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["accepted", files["KEYSTONE_DB_PASSWORD"]], proc.stdout + proc.stderr
    assert not any(v in proc.stdout.partition("\n")[2].partition("\n")[2] for v in files.values())
    assert "fromtheenvironment" not in proc.stdout


def test_the_supervisor_makes_glance_s_images_folder_and_each_lock_path_puppet_configures():
    manifests = "\n".join(p.read_text() for p in (ROOT / "puppet/modules/profile/manifests").rglob("*.pp"))
    locks = re.findall(r"'lock_path' => '/var/lib/(\w+)/tmp'", manifests)
    assert sorted(locks) == sorted(openstack_service.LOCK_PATHS)
    entry = openstack_service.render_file("entrypoint")
    start = entry.index("mkdir -p " + openstack_service.IMAGES)
    lines = entry[start:entry.index("\n", entry.index("\n", start) + 1) + 1]
    stand_ins = 'mkdir() { echo "mkdir $*"; }; chown() { echo "chown $*"; }\n'
    proc = subprocess.run(["bash", "-c", stand_ins + lines], capture_output=True, text=True, timeout=30, check=True)
    images = openstack_service.IMAGES
    assert proc.stdout.splitlines() == [f"mkdir -p {images}", f"chown glance:glance {images}", *(
        f"{cmd} /var/lib/{s}/tmp" for s in openstack_service.LOCK_PATHS for cmd in ("mkdir -p", f"chown {s}:{s}"))]
    assert images in dict(openstack_service.SERVICE.data).values()  # the host folder's images/


def test_the_catalog_script_makes_a_keystone_user_per_service_with_its_generated_password():
    import ast

    tree = ast.parse(openstack_service.render_file("bootstrap"))
    users = next(n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "USERS")
    assert ast.literal_eval(users) == openstack_service.SERVICE_PASSWORDS
    assert set(openstack_service.SERVICE_PASSWORDS) == set(openstack_service.SERVICES) - {"keystone"}
    assert set(openstack_service.SERVICE_PASSWORDS.values()) <= {n for _, n in openstack_service.SECRET_FILES}
    bootstrap = openstack_service.render_file("bootstrap")
    assert 'SECRETS = "/run/secrets"' in bootstrap and "os.environ" not in bootstrap  # its files, not the env
    assert 'password=secret("OS_ADMIN_PASSWORD")' in bootstrap


def test_every_service_of_the_definition_is_migrated_once_in_its_order():
    entry = openstack_service.render_file("entrypoint")
    assert re.findall(r"^migrate (\w+) ", entry, re.M) == list(openstack_service.SERVICES)


def test_secrets_file_holds_every_generated_key_0600_and_is_read_again(cfg):
    st = _stack(cfg)
    path = config.secrets_file_for(cfg.containers_path)
    assert not path.exists()  # loading (status, --dry-run) never writes
    assert config.keep_generated_secrets(st) == str(path)  # deploy-all, create and start do, first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = yaml.safe_load(path.read_text())
    assert set(data) == set(registry.GENERATED_KEYS)
    assert {"openstack_admin_password", "galera_root_password", "rabbitmq_password"} <= set(data)
    assert dict(cfg.load()[1].container("os1").secrets) == dict(st.container("os1").secrets)  # not made again


def test_an_older_secrets_file_gets_the_new_keys_and_keeps_its_own(tmp_path):
    keep = "R" * 32
    (tmp_path / "stack.secrets.yaml").write_text(yaml.safe_dump({"galera_root_password": keep,
                                                                 "galera_sst_password": "S" * 32}))
    got = config.generated_secrets(tmp_path / "stack.yaml", registry.GENERATED_KEYS)
    assert got.values["galera_root_password"] == keep
    assert keep not in dict(got.files_for(registry.DEFINITIONS["openstack"])).values()  # root's: never openstack's
    assert dict(got.files_for(registry.DEFINITIONS["galera"]))["MYSQL_ROOT_PASSWORD"] == keep
    assert config.GENERATED_RE.fullmatch(dict(got.files_for(registry.DEFINITIONS["openstack"]))["OS_ADMIN_PASSWORD"])
    assert got.files_for(None) == () and got.files_for(registry.DEFINITIONS["haproxy"]) == ()


def test_rendered_files_are_valid_bash_and_python(tmp_path):
    for name in openstack_service.FILES:
        text = openstack_service.render_file(name)
        assert "{{" not in text and "{%" not in text
        f = tmp_path / name
        f.write_text(text)
        if name == "bootstrap":
            compile(text, name, "exec")
        else:
            assert subprocess.run(["bash", "-n", str(f)], capture_output=True).returncode == 0, name


def test_supervisor_keeps_secrets_out_of_command_lines_and_puppet():
    entry = openstack_service.render_file("entrypoint")
    assert openstack_service.SETTINGS in entry  # waits for Puppet's settings
    assert "umask 077" in entry and "/root/.my.cnf" in entry  # MariaDB's root password in an option file
    assert "OS_BOOTSTRAP_PASSWORD=$OS_ADMIN_PASSWORD" in entry  # keystone's bootstrap reads it from its env
    assert "--bootstrap-password" not in entry
    # the openrc refers to the secret file (root's only), holds no password
    assert 'export OS_PASSWORD="\\$(cat /run/secrets/OS_ADMIN_PASSWORD)"' in entry
    assert 'open("/run/secrets/KEYSTONE_FERNET_SECRET", "rb")' in entry and "os.environ" not in entry
    for line in entry.splitlines():  # no password given as an argument to mariadb, rabbitmqctl or the like
        assert not ("PASSWORD" in line and ("-p" in line.split() or "rabbitmqctl" in line)), line


def _migrate_harness(tmp_path, fails: int) -> subprocess.CompletedProcess[str]:
    """The entrypoint's own recorded/record/migrate functions, run by bash against stand-ins for the programs they
    call: mariadb keeps the recorded versions in a file, the migration fails its first `fails` runs."""
    entry = openstack_service.render_file("entrypoint")
    functions = entry[entry.index("recorded() {"):entry.index("as() {  # as USER")]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mariadb").write_text(
        '#!/bin/sh\ncase "$*" in *REPLACE*) echo "$*" >> "$T/recorded";; esac\nexit 0\n')
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\necho 2:25.1.0\n")
    (bin_dir / "migration").write_text(
        '#!/bin/sh\nn=$(cat "$T/runs" 2>/dev/null || echo 0); echo $((n + 1)) > "$T/runs"\n'
        'if [ "$n" -lt "$FAILS" ]; then echo "Lost connection to MySQL server during query"; exit 1; fi\n'
        'echo "Database is synced successfully."\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    script = ('log() { echo "log: $*"; }; nap() { :; }; stopping=; logs=$T\n' + functions
              + 'migrate glance glance-api migration; echo "rc=$?"\n')
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "T": str(tmp_path), "FAILS": str(fails)})


def test_a_migration_the_database_dropped_is_run_again_and_recorded(tmp_path):
    proc = _migrate_harness(tmp_path, fails=2)
    assert proc.stdout.splitlines()[-1] == "rc=0", proc.stdout + proc.stderr
    assert (tmp_path / "runs").read_text().strip() == "3"
    assert "attempt 1 failed (exit 1): Lost connection" in proc.stdout
    assert "REPLACE INTO dockstack.migrations VALUES ('glance', '2:25.1.0')" in (tmp_path / "recorded").read_text()
    log = (tmp_path / "glance-migrate.log").read_text()  # every attempt's output is kept
    assert log.count("Lost connection") == 2 and "--- attempt 3" in log


def test_a_migration_that_keeps_failing_gives_up_after_three_runs_unrecorded(tmp_path):
    proc = _migrate_harness(tmp_path, fails=5)
    assert proc.stdout.splitlines()[-1] == "rc=1", proc.stdout + proc.stderr
    assert (tmp_path / "runs").read_text().strip() == "3"
    assert not (tmp_path / "recorded").exists()


def test_nova_logs_in_as_itself_to_placement_and_neutron():
    """nova asks neutron some things as itself (its extensions, before a server create): its password is in the
    [neutron] section of nova's secrets file, beside [placement]'s; Puppet's profile writes the rest of both."""
    entry = openstack_service.render_file("entrypoint")
    nova = entry[entry.index("secret_file /etc/nova/"):]
    nova = nova[:nova.index("\nEOF\n")]
    for section in ("[keystone_authtoken]", "[placement]", "[neutron]"):
        assert f"{section}\npassword = $NOVA_SERVICE_PASSWORD" in nova, section
    profile = (ROOT / "puppet" / "modules" / "profile" / "manifests" / "nova" / "api.pp").read_text()
    assert "'neutron'            => $service_auth," in profile and "'placement'          => $service_auth," in profile


def test_every_uwsgi_application_runs_one_thread_per_worker_each_loading_the_application():
    """The OpenStack applications import eventlet: two threads in one worker, the application loaded before the
    fork, hung keystone (`cannot switch to a different thread`). Debian's and Kolla's settings: threads 1."""
    entry = openstack_service.render_file("entrypoint")
    body = entry[entry.index("uwsgi_app() {"):]
    body = body[:body.index("\n}\n")]
    assert '--processes "$processes" --threads 1 --lazy-apps' in body
    # horizon keeps its sessions in its process's memory: one process, or a login is lost on the next page
    assert re.search(r"^uwsgi_app horizon www-data \S+ \S+ 1 ", entry, re.M)
    assert re.search(r"^\s*uwsgi_app keystone keystone \S+ \S+ 2$", entry, re.M)


def _start_harness(tmp_path, slow: dict[str, float], failing: str = "") -> list[str]:
    """The entrypoint's loop that starts each service once its migrations end, run by bash with stand-ins: a
    migration takes `slow[service]` seconds (and `failing` fails), starting a service or the catalog is a line."""
    entry = openstack_service.render_file("entrypoint")
    end = entry.index("\n", entry.index('if [ -n "$failed" ]; then phase'))
    loop = entry[entry.index("declare -A job=()"):end + 1]
    ev = tmp_path / "events"
    stand_ins = (f'ev={ev}; logs={tmp_path}; stopping=; '
                 'declare -A ep=([keystone]=v:5000 [placement]=v:8778 [nova]=v:8774 [cinder]=v:8776)\n'
                 'migrate() { sleep "${SLOW[$1]:-0}"; echo "migrated $1" >> "$ev"; [ "$1" != "$FAILING" ]; }\n'
                 'uwsgi_app() { echo "start $1" >> "$ev"; }; supervise() { echo "start $1" >> "$ev"; }\n'
                 'catalog() { sleep 0.2; echo "catalog done" >> "$ev"; }\n'
                 'phase() { echo "phase $*" >> "$ev"; }; nap() { [ "$1" != infinity ] && sleep "$1"; }\n')
    slow_decl = "declare -A SLOW=(" + " ".join(f"[{k}]={v}" for k, v in slow.items()) + ")\n"
    subprocess.run(["bash", "-c", slow_decl + stand_ins + loop + "echo end >> \"$ev\""], timeout=30,
                   env={"PATH": "/usr/bin:/bin", "FAILING": failing}, capture_output=True)
    return ev.read_text().splitlines()


def test_each_service_starts_once_its_own_migrations_end_and_the_catalog_runs_beside_the_others(tmp_path):
    """nova migrates longest: keystone, its catalog and the other services start before nova's migrations end."""
    events = _start_harness(tmp_path, {"nova": 1.0, "keystone": 0.1})
    at = {e: i for i, e in enumerate(events)}
    for service, started in [("keystone", "keystone"), ("glance", "glance-api"), ("placement", "placement-api"),
                             ("neutron", "neutron-server"), ("cinder", "cinder-api"), ("cinder", "cinder-scheduler"),
                             ("nova", "nova-api"), ("nova", "nova-conductor"), ("nova", "nova-scheduler")]:
        assert at[f"migrated {service}"] < at[f"start {started}"], events
    assert at["start keystone"] < at["catalog done"] < at["migrated nova"], events
    assert at["migrated nova"] < at["start nova-scheduler"], events
    assert at["start cinder-api"] < at["migrated nova"] and events[-1] == "end", events
    assert not any(e.startswith("phase failed") for e in events)


def test_a_failed_migration_starts_not_its_service_and_the_supervisor_says_which(tmp_path):
    events = _start_harness(tmp_path, {}, failing="neutron")
    assert "start neutron-server" not in events and "start glance-api" in events and "catalog done" in events
    assert events[-1].startswith("phase failed: neutron (logs in"), events


def test_nova_scheduler_and_conductor_wait_for_the_catalog_they_read_placement_from(tmp_path):
    """nova-scheduler and nova-conductor make their placement client as they start (through keystone at the VIP,
    EndpointNotFound or a 503 without it: exit 1, and a restart counts as not ready): nova's migrations done
    first, they start only once the catalog is."""
    events = _start_harness(tmp_path, {"keystone": 0.6})
    at = {e: i for i, e in enumerate(events)}
    assert at["start nova-api"] < at["catalog done"] < at["start nova-scheduler"], events
    assert at["catalog done"] < at["start nova-conductor"], events
    assert events.count("start nova-scheduler") == 1 and events.count("start nova-conductor") == 1


def test_supervise_records_the_service_s_own_pid_and_sigterm_reaches_the_service(tmp_path):
    """The PID in a service's state file is the service itself, not a shell around it: the readiness check's
    `kill -0`, a test's kill and the supervisor's SIGTERM on `docker stop` all reach the service. (clean_env's body
    in parentheses forked once more: the PID was a bash whose service outlived its SIGTERM.)"""
    entry = openstack_service.render_file("entrypoint")
    functions = entry[entry.index("clean_env() {"):entry.index("chown rabbitmq:rabbitmq")]
    functions = functions[:functions.index("\n}\n", functions.index("supervise() {")) + 3]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # setpriv's stand-in drops its options and runs the rest, as setpriv does once it has changed the user
    (bin_dir / "setpriv").write_text('#!/bin/sh\nwhile [ "${1#--}" != "$1" ]; do shift; done\nexec "$@"\n')
    (bin_dir / "setpriv").chmod(0o755)
    out = tmp_path / "out"
    script = (f'state={tmp_path}; logs={tmp_path}; declare -A sup=()\n{functions}\n'
              'supervise sleeper root sleep 300\n'
              'for _ in $(seq 100); do [ -s "$state/sleeper" ] && break; sleep 0.05; done\n'
              'read -r how pid rest < "$state/sleeper"\n'
              # the PID is recorded as the job starts, before it has become the service (exec): give it the time
              'for _ in $(seq 100); do [[ $(tr "\\0" " " < /proc/$pid/cmdline) == sleep* ]] && break\n'
              'sleep 0.05; done\n'
              f'echo "$how $(tr "\\0" " " < /proc/$pid/cmdline)" > {out}\n'
              'kill -TERM "${sup[sleeper]}"; wait "${sup[sleeper]}"\n'
              f'if kill -0 "$pid" 2>/dev/null; then echo alive >> {out}; else echo ended >> {out}; fi\n')
    subprocess.run(["bash", "-c", script], timeout=30, capture_output=True,
                   env={"PATH": f"{bin_dir}:/usr/bin:/bin", "SECRET": "x"})
    assert out.read_text().splitlines() == ["up sleep 300 ", "ended"]


def test_keystone_s_cache_is_the_socket_the_supervisor_runs_memcached_on():
    entry = openstack_service.render_file("entrypoint")
    assert f"supervise memcached keystone memcached -s {openstack_service.KEYSTONE_CACHE} -a 0600" in entry
    pp = (ROOT / "puppet/modules/profile/manifests/keystone.pp").read_text()
    assert f"'memcache_servers' => 'unix:{openstack_service.KEYSTONE_CACHE}'" in pp
    assert "'enabled'          => 'true'" in pp


def test_nova_creates_cell1_only_when_its_mapping_is_missing(tmp_path):
    """nova's migrations read cell1's mapping with one query (no nova-manage start for it) and create it only when
    it is missing, so a second container's first start does not make a second cell1."""
    entry = openstack_service.render_file("entrypoint")
    function = entry[entry.index("nova_migrate() {"):]
    function = function[:function.index("\n}\n") + 3]
    for cells, created in (("0", True), ("1", False)):
        calls = tmp_path / f"calls-{cells}"
        stand_ins = (f'as() {{ shift; echo "$*" >> {calls}; }}\n'
                     f'mariadb() {{ echo "$*" >> {calls}; echo {cells}; }}\n')
        subprocess.run(["bash", "-c", stand_ins + function + "nova_migrate"], timeout=30, check=True,
                       env={"PATH": "/usr/bin:/bin"})
        lines = calls.read_text().splitlines()
        assert lines[:2] == ["nova-manage api_db sync", "nova-manage cell_v2 map_cell0"], lines
        assert "nova_api.cell_mappings" in lines[2] and lines[-1] == "nova-manage db sync", lines
        assert ("nova-manage cell_v2 create_cell --name=cell1" in lines) == created, lines
        assert not any("list_cells" in line for line in lines)


def test_the_supervisor_waits_for_every_file_the_puppet_agent_writes():
    """Each service's conf.d folder comes with its Puppet file: the supervisor writes the secrets beside them only
    once every one is there (glance's secrets were once written before its folder existed, and lost)."""
    manifests = "\n".join(p.read_text() for p in (ROOT / "puppet/modules/profile/manifests").rglob("*.pp"))
    services = re.findall(r"profile::openstack::conf \{ '(\w+)'", manifests)
    assert sorted(services) == sorted(openstack_service.SERVICES)
    entry = openstack_service.render_file("entrypoint")
    loop = re.search(r"^for s in ([a-z ]+); do puppet_files\+=\(\"/etc/\$s/\$s.conf.d/50-dockstack.conf\"\)",
                     entry, re.M)
    assert loop and loop.group(1).split() == list(openstack_service.SERVICES), entry
    for written in re.findall(r"file \{ '(/etc/(?:rabbitmq|openstack-dashboard)/[^']+)'", manifests):
        assert written in entry[entry.index("puppet_files=("):entry.index("written() {")], written
    assert entry.index("until written ||") < entry.index("secret_file /etc/keystone")
