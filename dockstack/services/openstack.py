"""openstack: keystone, glance, placement, nova (api, conductor, scheduler), neutron-server, cinder, horizon and
rabbitmq in one container under dockstack's supervisor, their databases on Galera through the VIP, their passwords
generated into the secrets file and given to the container as its secret files; glance's images live in its host
folder's images/."""

from __future__ import annotations

from dockstack.config import SECRETS_MOUNT, Container
from dockstack.config.tls import CONTAINER_CA_FILE  # the stack's CA in the container (profile::trust writes it)
from dockstack.render import render
from dockstack.services.base import DatabaseUser, Service

MOUNT = "/var/lib/dockstack/openstack"  # supervisor, readiness check and keystone's bootstrap
IMAGES = "/var/lib/glance/images"  # the host folder's images/
SETTINGS = "/etc/dockstack/openstack.env"  # written by profile::openstack (Puppet): endpoints, no secret
STATE = "/run/dockstack-openstack"  # inside the container: the supervisor's phase and each service's state
FILES = {"entrypoint": "entrypoint.sh.j2", "check": "check.sh.j2", "bootstrap": "bootstrap.py.j2"}
# keystone's cache: memcached's unix socket, opened by keystone's user only (profile::keystone names the same path)
KEYSTONE_CACHE = "/run/dockstack-keystone-cache/memcached.sock"
SETTLE = 30  # seconds a restarted service still counts as not ready, so `inv status` shows it died
# seconds deploy-all keeps asking a failing check again before it repairs the container (every API down for
# minutes): a service that died and that the supervisor restarted fails the check SETTLE s after its restart, which
# comes a second or two after it died (the supervisor's backoff); a failure that outlasts this is no such blip
BLIP = SETTLE + 15
HORIZON_WSGI = "/usr/share/openstack-dashboard/wsgi.py"
HORIZON_STATIC = "/var/lib/openstack-dashboard/static"
# its databases are on Galera, reached through the VIP: galera makes each account below and its databases (root, on
# a node's local socket), and this container logs in with those accounts only, none of which can manage accounts.
# The container bootstraps keystone's admin, gives each service its keystone user, rabbitmq its user, horizon its
# Django key and keystone the seed of its fernet keys (the same keys in every openstack container, so tokens outlive
# them)
# each OpenStack service it runs -> its databases, owned by the service's own database account (nova has three);
# Puppet writes each service's conf.d file (profile::openstack::conf)
SERVICE_DATABASES = {"keystone": ("keystone",), "glance": ("glance",), "placement": ("placement",),
                     "nova": ("nova_api", "nova", "nova_cell0"), "neutron": ("neutron",), "cinder": ("cinder",)}
SERVICES = tuple(SERVICE_DATABASES)
# the supervisor's record of the version each service's database is migrated to: a database of its own, owned by an
# account of its own (the supervisor's, /root/.my.cnf), so the supervisor holds no service's rights to keep it
MIGRATIONS_DB = "dockstack"
RECORD_USER = "dockstack"
RECORD_PASSWORD = ("openstack_record_db_password", "RECORD_DB_PASSWORD")
# the secret file (and the supervisor's variable) holding each service's database password, and each keystone user's:
# one per service but keystone (its admin comes from keystone-manage bootstrap), made by the catalog script
DB_PASSWORDS = {s: f"{s.upper()}_DB_PASSWORD" for s in SERVICES}
# every MariaDB account the container logs in with (galera makes them): the record's, then each service's
DATABASE_USERS = (DatabaseUser(RECORD_USER, RECORD_PASSWORD, (MIGRATIONS_DB,)),
                  *(DatabaseUser(s, (f"{s}_db_password", DB_PASSWORDS[s]), dbs)
                    for s, dbs in SERVICE_DATABASES.items()))
SERVICE_PASSWORDS = {s: f"{s.upper()}_SERVICE_PASSWORD" for s in SERVICES if s != "keystone"}
# the keys of Puppet's settings file (profile::openstack) the supervisor does not start without
SETTINGS_KEYS = ("region", "scheme", "mysql", *SERVICES, "horizon")
# the services whose Puppet profile puts oslo.concurrency's lock_path in /var/lib/SERVICE/tmp: the supervisor makes it
LOCK_PATHS = ("glance", "nova", "neutron", "cinder")
# (secrets file key, file in SECRETS_MOUNT): every secret the container gets, read by its supervisor (root) alone
SECRET_FILES = (
    RECORD_PASSWORD,
    ("openstack_admin_password", "OS_ADMIN_PASSWORD"),
    *((f"{s}_db_password", env) for s, env in DB_PASSWORDS.items()),
    *((f"{s}_service_password", env) for s, env in SERVICE_PASSWORDS.items()),
    ("rabbitmq_password", "RABBITMQ_PASSWORD"),
    ("horizon_secret_key", "HORIZON_SECRET_KEY"),
    ("keystone_fernet_secret", "KEYSTONE_FERNET_SECRET"),
)


def render_file(name: str) -> str:
    """Its supervisor (`entrypoint`), readiness check (`check`) or catalog script (`bootstrap`): constant for the
    stack (where clients reach the services comes from Puppet's settings file). The lists of services, databases
    and secrets they go through are this module's, so that each is written once."""
    return render(f"openstack/{FILES[name]}", mount=MOUNT, settings=SETTINGS, state=STATE, settle=SETTLE,
                  horizon_wsgi=HORIZON_WSGI, horizon_static=HORIZON_STATIC, record_user=RECORD_USER,
                  record_password=RECORD_PASSWORD[1], keystone_cache=KEYSTONE_CACHE, images=IMAGES, services=SERVICES,
                  migrations_db=MIGRATIONS_DB, db_passwords=DB_PASSWORDS,
                  service_passwords=SERVICE_PASSWORDS, settings_keys=SETTINGS_KEYS, lock_paths=LOCK_PATHS,
                  secrets=SECRETS_MOUNT, secret_files=[name for _, name in SECRET_FILES], ca_file=CONTAINER_CA_FILE)


class Openstack(Service):
    def start_files(self, c: Container) -> dict[str, str]:
        return {name: render_file(name) for name in FILES}


SERVICE = Openstack(
    name="openstack", secret_files=SECRET_FILES, databases=DATABASE_USERS,
    # ready when every service runs and answers (a first start migrates every database: minutes on a small machine)
    check=f"bash {MOUNT}/check", check_timeout=900, settle=BLIP,
    mount=MOUNT,
    read_only_mount=True,  # it only reads its folder
    command=("bash", f"{MOUNT}/entrypoint"),
    data=(("images", IMAGES),),
    # its supervisor stops every service, then rabbitmq: 2-7 s on an idle machine, past docker's 10 s under load (a
    # SIGKILL); as Kolla-Ansible's docker_graceful_timeout, a minute before docker gives up on a clean stop
    stop_timeout=60,
)
