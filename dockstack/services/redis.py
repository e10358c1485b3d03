"""redis: Redis for Contrail's analytics, under dockstack's supervisor. Puppet (profile::redis) writes its settings
(bound to the container's own address, never to every interface); the supervisor adds the password from its secret
file (requirepass, in a file only the redis user reads) and runs redis-server as redis with nothing else in its
environment. Ready when it answers PING with the password; a client without it gets NOAUTH."""

from __future__ import annotations

from dockstack.config import SECRETS_MOUNT, Container
from dockstack.render import render
from dockstack.services.base import Service

MOUNT = "/var/lib/dockstack/redis"  # supervisor and readiness check
DATA = "/var/lib/redis"  # Redis's dir (its dump): the host folder's data/
CONF = "/etc/redis/dockstack.conf"  # written by profile::redis (Puppet): bind, port, dir
AUTH = "/run/dockstack-redis/auth.conf"  # requirepass, written by the supervisor, readable by redis only
PORT = 6379  # profile::redis's port: where the check asks
PASSWORD = ("redis_password", "REDIS_PASSWORD")  # (secrets file key, its file in SECRETS_MOUNT)
START_FILES = ("entrypoint", "check")


def render_file(name: str) -> str:
    """Its supervisor (`entrypoint`) or readiness check (`check`): constant for the stack."""
    return render(f"redis/{name}.sh.j2", mount=MOUNT, conf=CONF, auth=AUTH, data=DATA, port=PORT,
                  password_file=f"{SECRETS_MOUNT}/{PASSWORD[1]}")


class Redis(Service):
    def start_files(self, c: Container) -> dict[str, str]:
        return {name: render_file(name) for name in START_FILES}


SERVICE = Redis(
    name="redis", secret_files=(PASSWORD,), check=f"sh {MOUNT}/check",
    check_timeout=60,
    mount=MOUNT,
    read_only_mount=True,  # it only reads its folder
    command=("sh", f"{MOUNT}/entrypoint"),
    data=(("data", DATA),),
    stop_timeout=30,  # redis-server saves its dump on SIGTERM: a remove or re-create stops it first
)
