"""Secret env values never leave the config except into the container's own secret files.

A containers file with a secret (a key named like one, and a key listed under `secrets:`) and a plain value
is created on the lab, planned, shown and broken, with DOCKSTACK_TRACE set; the secrets appear in no output,
no error, not the trace, not the container's labels or environment (`docker inspect`) and not `docker events`,
while the container gets them as files of /run/secrets (KEY_FILE in its env names each).

A container given a generated password carries only its fingerprint; with its secrets file moved away or one value
changed, deploy-all (dry run too), create and start are refused, naming the file and the key, and nothing changes.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

from .helpers import run_inv, ssh, write_containers

LAB = "b"
HOST = "host2"


class Runs:
    """`inv` with one DOCKSTACK_TRACE file; keeps every stdout and stderr to search them afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self.trace = tmp_path / "trace.jsonl"
        self.outputs: list[tuple[str, str]] = []

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = run_inv(*args, check=False, timeout=300,
                       env={"DOCKSTACK_TRACE": str(self.trace), "DOCKSTACK_DHCP_TIMEOUT": "20"})
        self.outputs.append((" ".join(args), proc.stdout + proc.stderr))
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc


def with_secrets(db_password: str, listed: str, plain: str):
    """The shipped stack plus two containers with the same env: one that runs, one whose readiness check
    prints the env and fails."""
    env = {"DB_PASSWORD": db_password, "APP_PASS": listed, "MODE": plain}

    def edit(data: dict) -> None:
        data["secrets"] = ["APP_PASS"]
        data["roles"] += [{"name": "secretrole", "depends_on": ["dnsmasq"]},
                          {"name": "secretcheck", "depends_on": ["dnsmasq"], "check_timeout": 1,
                           "check": 'echo "$(cat "$DB_PASSWORD_FILE") $(cat "$APP_PASS_FILE") $MODE"; false'}]
        data["containers"] += [
            {"name": "secretapp", "role": "secretrole", "host": HOST, "image": "dockstack/base:bookworm",
             "env": dict(env)},
            {"name": "secretfail", "role": "secretcheck", "host": HOST, "image": "dockstack/base:bookworm",
             "env": dict(env)}]
    return edit


def test_secret_values_appear_in_no_output_label_trace_or_event(inventory, tmp_path):
    token, listed = f"dbpw-{secrets.token_hex(12)}", f"listed-{secrets.token_hex(12)}"
    changed = f"dbpw2-{secrets.token_hex(12)}"
    plain = f"plain-{secrets.token_hex(4)}"
    hidden = (token, listed, changed)
    good = write_containers(tmp_path, "containers.yaml", with_secrets(token, listed, plain))
    drifted = write_containers(tmp_path, "drifted.yaml", with_secrets(changed, listed, plain))
    bad = write_containers(tmp_path, "bad.yaml", with_secrets(f"{token}\nsecond line", listed, plain))
    bad_plain = write_containers(tmp_path, "bad-plain.yaml", with_secrets(token, listed, "plain\nvalue"))
    inv = Runs(tmp_path)
    since = ssh(inventory, HOST, "date +%s").stdout.strip()
    try:
        inv("create", "--name=dnsmasq", f"--containers-file={good}")
        created = inv("create", "--name=secretapp", f"--containers-file={good}")
        assert "secretapp: create on host2" in created.stdout
        inv("create", "--name=secretapp", f"--containers-file={good}")  # already running: nothing to do

        # the readiness check prints the secrets: what the host said is masked, the plain value is not
        failed = inv("create", "--name=secretfail", f"--containers-file={good}", code=1)
        assert f"(last said: *** *** {plain})" in failed.stdout + failed.stderr, failed

        plan = inv("deploy-all", "--dry-run", f"--containers-file={good}")
        assert "secretapp (host2): nothing (running with" in plan.stdout, plan.stdout
        drift = inv("deploy-all", "--dry-run", f"--containers-file={drifted}")
        assert "secretapp (host2): recreate (secrets changed)" in drift.stdout, drift.stdout

        table = inv("status", f"--containers-file={good}")
        assert "secretapp" in table.stdout
        rows = {r["name"]: r for r in json.loads(inv("status", "--json", f"--containers-file={good}").stdout)}
        assert rows["secretapp"]["state"] == "running"
        inv("ipam.show", f"--containers-file={good}")
        book = {r["name"]: r for r in json.loads(inv("ipam.show", "--json", f"--containers-file={good}").stdout)}
        assert book["secretapp"]["state"] == "running" and book["secretapp"]["ip"]

        # a bad value: the error names file and key, never the secret value; a plain one is quoted as usual
        for args in (["deploy-all"], ["status"], ["create", "--name=secretapp"]):
            refused = inv(*args, f"--containers-file={bad}", code=1)
            assert f"error: {bad}: containers[" in refused.stderr and ".env.DB_PASSWORD: the secret value *** " \
                "contains a newline" in refused.stderr, refused.stderr
        refused = inv("status", f"--containers-file={bad_plain}", code=1)
        assert "env.MODE: 'plain\\nvalue' contains a newline" in refused.stderr, refused.stderr

        # the container has its secrets as files only root reads, its env names them (and holds the plain value);
        # neither its labels nor its environment (`docker inspect`, `docker exec env`) hold a secret
        read = "docker exec secretapp sh -c 'cat /run/secrets/DB_PASSWORD; echo; cat /run/secrets/APP_PASS'"
        assert ssh(inventory, HOST, read).stdout.split() == [token, listed]
        assert ssh(inventory, HOST, "docker exec secretapp printenv DB_PASSWORD_FILE APP_PASS_FILE MODE"
                   ).stdout.split() == ["/run/secrets/DB_PASSWORD", "/run/secrets/APP_PASS", plain]
        modes = ssh(inventory, HOST, "docker exec secretapp stat -c '%a %U %n' /run/secrets /run/secrets/DB_PASSWORD")
        assert modes.stdout.split("\n")[:2] == ["700 root /run/secrets", "400 root /run/secrets/DB_PASSWORD"], modes
        labels = ssh(inventory, HOST, "docker inspect -f '{{json .Config.Labels}}' secretapp secretfail").stdout
        inspected = ssh(inventory, HOST, "docker inspect secretapp secretfail").stdout
        environ = ssh(inventory, HOST, "docker exec secretapp env; docker exec secretapp cat /proc/1/environ").stdout
        assert "org.dockstack.spec" in labels
        assert ssh(inventory, HOST, "ls /tmp | grep -c dockstack-env", check=False).stdout.strip() == "0"
        until = ssh(inventory, HOST, "date +%s").stdout.strip()
        events = {h.name: ssh(inventory, h.name, f"docker events --since {since} --until {until} "
                                                 "--format '{{json .}}'").stdout for h in inventory.hosts}
        assert '"secretapp"' in events[HOST]  # the period's events were read
        trace = inv.trace.read_text()
        assert '"step": "secretapp: create"' in trace

        for value in hidden:
            for args, out in inv.outputs:
                assert value not in out, (args, out)
            assert value not in trace
            assert value not in labels
            assert value not in inspected and value not in environ
            for host, text in events.items():
                assert value not in text, host
    finally:
        for name in ("secretapp", "secretfail"):
            run_inv("remove", f"--name={name}", f"--containers-file={good}", check=False, timeout=120)
            run_inv("ipam.release", f"--name={name}", f"--containers-file={good}", check=False, timeout=120)


def keyed_stack(data: dict) -> None:
    """dnsmasq and one container of a role with service: redis, which gets a password from the secrets file
    (beside this containers file, in the test's folder: the shipped stack's is never touched). No Puppet class:
    its supervisor waits for a redis.conf that never comes, and the role's own check passes; what matters here
    is the password it is created with."""
    data["roles"] = [r for r in data["roles"] if r["name"] == "dnsmasq"] + [
        {"name": "keyed", "service": "redis", "depends_on": ["dnsmasq"], "check": "true", "check_timeout": 20}]
    data["containers"] = [c for c in data["containers"] if c["role"] == "dnsmasq"] + [
        {"name": "keyed", "role": "keyed", "host": HOST, "image": "dockstack/base:bookworm"}]


def managed_ids(inventory) -> dict[str, str]:
    """host -> every dockstack container's ID, name, state and start time on it: what a refused run must not
    change."""
    cmd = ("ids=$(docker ps -aq --filter label=org.dockstack.managed=true); [ -z \"$ids\" ] || docker inspect -f "
           "'{{.Id}} {{.Name}} {{.State.Running}} {{.State.StartedAt}}' $ids | sort")
    return {h.name: ssh(inventory, h.name, cmd).stdout for h in inventory.hosts}


def test_a_missing_or_changed_secrets_file_is_refused_and_nothing_changes(inventory, tmp_path):
    stack_file = write_containers(tmp_path, "containers.yaml", keyed_stack)
    secrets_file = tmp_path / "containers.secrets.yaml"
    inv = Runs(tmp_path)
    try:
        inv("deploy-all", f"--containers-file={stack_file}")
        text = secrets_file.read_text()
        value = yaml.safe_load(text)["redis_password"]
        assert ssh(inventory, HOST, "docker exec keyed cat /run/secrets/REDIS_PASSWORD").stdout == value
        assert value not in ssh(inventory, HOST, "docker inspect keyed; docker exec keyed env").stdout
        label = ssh(inventory, HOST, "docker inspect -f '{{index .Config.Labels \"org.dockstack.secrets\"}}' "
                    "keyed").stdout.strip()
        prints = json.loads(label)
        assert list(prints) == ["redis_password"] and re.fullmatch(r"[0-9a-f]{16}", prints["redis_password"])
        assert value not in label
        before = managed_ids(inventory)
        assert "/keyed true" in before[HOST]

        # moved away: every command that would start the container with new passwords refuses, writes nothing
        backup = secrets_file.rename(tmp_path / "backup.secrets.yaml")
        starting = (["deploy-all", "--dry-run"], ["deploy-all"], ["create", "--name=keyed"], ["start", "--name=keyed"])
        for args in starting:
            refused = inv(*args, f"--containers-file={stack_file}", code=1)
            assert f"error: {secrets_file}: missing, but the deployed stack was made with it (containers keyed carry " \
                f"its keys redis_password): restore it from your backup to {secrets_file}; the deployed stack's data " \
                "holds the old values" in refused.stderr, (args, refused.stderr)
            assert "generated passwords written" not in refused.stdout, (args, refused.stdout)
            assert not secrets_file.exists(), args
        assert managed_ids(inventory) == before

        # put back: converges with nothing to change
        backup.rename(secrets_file)
        done = inv("deploy-all", f"--containers-file={stack_file}")
        assert "0 changed, 0 failed" in done.stdout, done.stdout
        assert managed_ids(inventory) == before

        # one value changed: refused naming that key, never a value
        other = "Z" * 32
        secrets_file.write_text(text.replace(value, other))
        for args in (["deploy-all", "--dry-run"], ["deploy-all"]):
            refused = inv(*args, f"--containers-file={stack_file}", code=1)
            assert f"error: {secrets_file}: redis_password differs from the value the deployed stack was made with " \
                "(containers keyed carry the old one): put the old values back" in refused.stderr, refused.stderr
            assert other not in refused.stdout + refused.stderr and value not in refused.stdout + refused.stderr
        assert managed_ids(inventory) == before
        assert secrets_file.read_text() == text.replace(value, other)  # the operator's file is left as it is
        secrets_file.write_text(text)
        assert "0 changed, 0 failed" in inv("deploy-all", f"--containers-file={stack_file}").stdout
    finally:
        run_inv("remove", "--name=keyed", f"--containers-file={stack_file}", check=False, timeout=120)
        run_inv("ipam.release", "--name=keyed", f"--containers-file={stack_file}", check=False, timeout=120)


@pytest.fixture(autouse=True)
def _no_leftovers(inventory):
    """Containers of an earlier, interrupted run of these tests would make `create` a no-op (or, for keyed, carry
    the fingerprint of another run's secrets file, which the first deploy-all would rightly refuse)."""
    ssh(inventory, HOST, "docker rm -f secretapp secretfail keyed >/dev/null 2>&1 || true")
