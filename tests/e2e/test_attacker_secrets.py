"""Issue 30's probes 2 and 3, as an attacker who has root in one container of the shipped stack would try them.

2. No value of the secrets file (containers.secrets.yaml) is in any container's `docker inspect`, its
   /proc/1/environ, or what `docker exec NAME env` prints: secrets are files only root reads in the container.
3. From the openstack container, with every password it can read (its secret files), no account that logs in over
   the network, through the VIP or at a galera node's own address, can rename or alter root@localhost, create an
   account, grant, or write mysql.*: galera makes the accounts as root over a node's local socket.

Runs on the stack shipped_from_empty deployed (REAL_STACK_MODULES), reading it; a probe that wrongly succeeds is
undone at once where that is possible, and the statements are chosen so that one that succeeds changes nothing that
matters (root@localhost renamed to itself, unlocked, a no-op UPDATE), so a failure here does not break the stack for
the modules after it.
"""

from __future__ import annotations

import shlex

import pytest
import yaml

from dockstack.config import DEFAULT_CONTAINERS_FILE, SECRETS_MOUNT, Stack, secrets_file_for
from dockstack.services import galera as galera_service
from dockstack.services import openstack as openstack_service

from .helpers import Deployed, ssh

LAB = "main"


@pytest.fixture(scope="module")
def stack(shipped_from_empty: Deployed) -> Stack:
    assert "0 failed" in shipped_from_empty.out, shipped_from_empty.out
    return shipped_from_empty.stack


def secrets_file_values() -> dict[str, str]:
    data = yaml.safe_load(secrets_file_for(DEFAULT_CONTAINERS_FILE).read_text())
    return {str(k): str(v) for k, v in data.items()}


def test_no_value_of_the_secrets_file_is_in_any_containers_inspect_pid1_environ_or_exec_env(stack, inventory):
    values = secrets_file_values()
    assert len(values) > 15  # the generated passwords of galera, openstack, redis and puppet
    for c in stack.containers:
        seen = {
            "docker inspect": ssh(inventory, c.host, f"docker inspect {c.name}").stdout,
            # read on the host, as the host's root: in the container, root reads another user's environ (dnsmasq's
            # PID 1 runs as dnsmasq) only as that user
            "/proc/1/environ": ssh(inventory, c.host,
                                   f"cat /proc/\"$(docker inspect -f '{{{{.State.Pid}}}}' {c.name})\"/environ").stdout,
            "docker exec env": ssh(inventory, c.host, f"docker exec {c.name} env").stdout,
        }
        assert f'"Name": "/{c.name}"' in seen["docker inspect"] and "PATH=" in seen["docker exec env"], c.name
        for where, text in seen.items():
            held = sorted(k for k, v in values.items() if v in text)
            assert not held, f"{c.name}: {where} holds the value of {held}: {stack.mask(text)[:400]}"


def test_each_container_gets_its_own_services_secrets_as_root_only_files(stack, inventory):
    """The other side of the probe above: the secrets are there, as files of /run/secrets only root reads, and
    each container has exactly its service's (openstack's: no galera root, SST or retired provisioner password)."""
    values = secrets_file_values()
    for c in stack.containers:
        listing = ssh(inventory, c.host, f"docker exec {c.name} sh -c 'ls -A {SECRETS_MOUNT} 2>/dev/null; true'")
        names = set(listing.stdout.split())
        assert names == {name for name, _ in c.secrets}, c.name
        if not names:
            continue
        modes = ssh(inventory, c.host, f"docker exec {c.name} stat -c '%a %U %n' {SECRETS_MOUNT} "
                    + " ".join(f"{SECRETS_MOUNT}/{n}" for n in sorted(names))).stdout.splitlines()
        assert modes[0] == f"700 root {SECRETS_MOUNT}", (c.name, modes)
        assert all(m.startswith("400 root ") for m in modes[1:]), (c.name, modes)
    openstack = stack.container("openstack")
    held = ssh(inventory, openstack.host, f"docker exec {openstack.name} sh -c 'cat {SECRETS_MOUNT}/*'").stdout
    for key in ("galera_root_password", "galera_sst_password", *galera_service.RETIRED_SECRETS):
        assert key not in values or values[key] not in held, key


# Run inside the openstack container (`bash -s -- USERS SERVER...`): every secret file it holds, tried as the
# password of every account name given, on every server; for each login that works, each statement an account
# manager would run. Prints `login SERVER USER FILE` and `try SERVER USER FILE RC :: MESSAGE :: STATEMENT` lines (file
# names, never a value). A statement that wrongly worked is undone where it can be.
PROBE = r"""
users=$1
shift
run() { MYSQL_PWD=$pw mariadb --no-defaults -h "$server" -P 3306 -u "$u" -N -B -e "$1" 2>&1; }
for server in "$@"; do
  for f in /run/secrets/*; do
    pw=$(cat "$f")
    for u in $users; do
      run 'SELECT 1' >/dev/null || continue
      echo "login $server $u ${f##*/}"
      statements=(
        "RENAME USER 'root'@'localhost' TO 'root'@'localhost'"
        "ALTER USER 'root'@'localhost' ACCOUNT UNLOCK"
        "CREATE USER 'dsprobe'@'%' IDENTIFIED BY 'Probe0123456789Probe0123'"
        "GRANT ALL PRIVILEGES ON *.* TO '$u'@'%'"
        "GRANT ALL PRIVILEGES ON \`$u\`.* TO 'nobody'@'localhost'"
        "UPDATE mysql.global_priv SET Priv = Priv WHERE User = 'root'"
      )
      for q in "${statements[@]}"; do
        out=$(run "$q")
        rc=$?
        echo "try $server $u ${f##*/} $rc :: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-200) :: $q"
        if [ "$rc" = 0 ]; then  # it should not have worked: undo what can be undone
          case $q in
            "CREATE USER"*) run "DROP USER IF EXISTS 'dsprobe'@'%'" >/dev/null ;;
            *"TO 'nobody'@'localhost'") run "REVOKE ALL PRIVILEGES ON \`$u\`.* FROM 'nobody'@'localhost'" >/dev/null ;;
          esac
        fi
      done
    done
  done
done
echo probed
"""


def test_no_password_the_openstack_container_holds_lets_an_account_manage_accounts(stack, inventory):
    openstack = stack.container("openstack")
    domain = inventory.network.domain
    vip = stack.role("haproxy").vip
    assert vip is not None
    servers = [f"{vip.name}.{domain}", *(f"{n.name}.{domain}" for n in stack.of_role("galera"))]
    own = {u.name for u in openstack_service.DATABASE_USERS}
    users = sorted(own | {"root", *galera_service.RETIRED_USERS})
    command = f"docker exec -i {openstack.name} bash -s -- {shlex.quote(' '.join(users))} {shlex.join(servers)}"
    out = ssh(inventory, openstack.host, command, stdin=PROBE).stdout
    assert out.splitlines()[-1] == "probed", out[-2000:]
    logins = {tuple(x.split()[1:4]) for x in out.splitlines() if x.startswith("login ")}
    by_file = {u.password[1]: u.name for u in openstack_service.DATABASE_USERS}
    # its own accounts log in with their own passwords, everywhere (so the statements below were tried), and no
    # password it holds logs in as root or as the retired provisioner
    for server in servers:
        for file, user in by_file.items():
            assert (server, user, file) in logins, (server, user, file)
    assert {(u, f) for _, u, f in logins} == {(u, f) for f, u in by_file.items()}, sorted(logins)
    tried = [x for x in out.splitlines() if x.startswith("try ")]
    assert len(tried) == 6 * len(logins)
    allowed = []
    for line in tried:
        head, message, statement = line.split(" :: ", 2)
        rc = head.split()[-1]
        if rc == "0" or "denied" not in message.lower():
            allowed.append(f"{head} :: {statement} :: {message}")
    assert not allowed, "\n".join(allowed)
