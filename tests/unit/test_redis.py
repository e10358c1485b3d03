"""The redis definition: its place in the shipped stack, its generated password, its supervisor and check."""

from __future__ import annotations

import subprocess

from dockstack import dockercli
from dockstack.services import redis as redis_service
from dockstack.services import registry


def test_shipped_redis_role_runs_the_redis_service_before_the_collector(shipped_stack):
    (c,) = [c for c in shipped_stack.containers if c.service == "redis"]
    role = shipped_stack.role(c.role)
    assert role.check == f"sh {redis_service.MOUNT}/check"  # its definition's, not containers.yaml's
    assert "profile::redis" in role.classes and "redis" in shipped_stack.role("collector").depends_on
    assert c.env == ()  # its password is a file, never an env value
    secrets = dict(c.secrets)
    assert list(secrets) == ["REDIS_PASSWORD"] and dict(c.generated) == {"redis_password": secrets["REDIS_PASSWORD"]}
    assert shipped_stack.mask(secrets["REDIS_PASSWORD"]) != secrets["REDIS_PASSWORD"]  # a secret: masked everywhere
    assert "redis_password" in registry.GENERATED_KEYS


def test_supervisor_refuses_a_missing_or_bad_password_file_and_clears_the_environment(tmp_path):
    text = redis_service.render_file("entrypoint")
    assert "env -i /usr/bin/setpriv --reuid=redis" in text and "umask 077" in text
    assert f"conf={redis_service.CONF}" in text and f"auth={redis_service.AUTH}" in text
    assert "/run/secrets/REDIS_PASSWORD" in text and "$REDIS_PASSWORD" not in text  # its file, not the env
    secret = tmp_path / "REDIS_PASSWORD"
    script = tmp_path / "entrypoint"
    script.write_text(text.replace("/run/secrets/REDIS_PASSWORD", str(secret)))
    for bad in (None, "", "a'b", "with space"):
        if bad is not None:
            secret.write_text(bad)
        proc = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=10,
                              env={"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": "Good0123456789abcdefghij"})
        assert proc.returncode == 1 and "is missing or not letters and digits: not starting" in proc.stdout


def test_check_asks_the_bound_address_with_the_password(tmp_path):
    """The real check with a fake redis-cli: it asks the address of `bind` with the password in REDISCLI_AUTH."""
    conf, bin_dir = tmp_path / "dockstack.conf", tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "redis-cli").write_text('#!/bin/sh\n[ "$REDISCLI_AUTH" = pw1 ] && [ "$2" = 10.1.2.3 ] && echo PONG '
                                       '&& exit 0\necho "NOAUTH Authentication required."\n')
    (bin_dir / "redis-cli").chmod(0o755)
    script, secret = tmp_path / "check", tmp_path / "REDIS_PASSWORD"
    script.write_text(redis_service.render_file("check").replace(redis_service.CONF, str(conf))
                      .replace("/run/secrets/REDIS_PASSWORD", str(secret)))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}

    def run(password: str) -> subprocess.CompletedProcess:
        secret.write_text(password)  # its secret file: the value, no newline
        return subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=10, env=env)
    assert run("pw1").returncode == 1  # no settings from Puppet yet
    conf.write_text("bind 10.1.2.3\nport 6379\n")
    assert run("pw1").returncode == 0 and run("pw1").stdout == "10.1.2.3: PONG\n"
    assert run("wrong").returncode == 1 and "NOAUTH" in run("wrong").stdout


def test_redis_is_stopped_before_it_is_removed(container, net):
    """A remove or re-create stops redis-server first (it saves its dump on SIGTERM), within its stop timeout."""
    c = container("redis", role="redis", service="redis", image="dockstack/redis:bookworm")
    argv = dockercli.run_argv(c, net, ["10.100.0.2"])
    assert argv[argv.index("--stop-timeout") + 1] == "30"
    assert "/var/lib/dockstack/redis/redis/data:/var/lib/redis" in argv
