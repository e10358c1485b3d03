"""What puppet and haproxy are fed (site.pp, hieradata, the autosign list, puppet.conf; haproxy.cfg, its
container's supervisor and keepalived.conf), rendered from the config alone, never from addresses.

site.pp, hieradata, the autosign list and puppet.conf name containers by DNS name, like haproxy.cfg's
backends; so they change only when containers.yaml does, the Puppet server has every node's block before
that node's agent asks for it, and a create or remove pushes nothing.
"""

from __future__ import annotations

from pathlib import Path

from dockstack.config import HAPROXY_STATS_PORT, ROOT, Container, Network, Stack
from dockstack.render import render
from dockstack.services import (
    GALERA_MOUNT,
    HAPROXY_MOUNT,
    OPENSTACK_MOUNT,
    PUPPET_MOUNT,
    ZOOKEEPER_DATA,
    ZOOKEEPER_MOUNT,
)

PUPPET_MODULES = ROOT / "puppet" / "modules"  # the profiles, shipped into the environment's modules/
ENVIRONMENT = "environments/production"  # inside the puppet service folder


def fqdn(c: Container, domain: str) -> str:
    return f"{c.name}.{domain}"


def render_site_pp(stack: Stack, domain: str) -> str:
    """A node block per configured container, with its role's classes."""
    classes = {r.name: r.classes for r in stack.roles}
    return render("puppet/site.pp.j2", nodes=[(fqdn(c, domain), classes[c.role]) for c in stack.containers])


def render_hieradata(stack: Stack, domain: str) -> str:
    """The configured containers per role and the balanced services, by DNS name."""
    by_role = {r.name: [(c, fqdn(c, domain)) for c in stack.of_role(r.name)] for r in stack.roles}
    balanced = [(b, r.name) for r in stack.roles for b in r.balance]
    # where clients reach haproxy: the virtual IP's name when haproxy has one, else each haproxy container
    frontends = [f"{vip.name}.{domain}" for _, vip in stack.vips()] or [
        fqdn(c, domain) for c in stack.containers if c.service == "haproxy"]
    server = stack.puppet_server()
    return render("puppet/common.yaml.j2", domain=domain, by_role={k: v for k, v in by_role.items() if v},
                  balanced=balanced, frontends=frontends, server=fqdn(server, domain) if server else "")


def render_hiera_config() -> str:
    return render("puppet/hiera.yaml.j2")


def render_autosign(stack: Stack, domain: str) -> str:
    """The certnames the Puppet server signs: the containers that run the agent, nothing else (no globs)."""
    return render("puppet/autosign.conf.j2", names=[fqdn(c, domain) for c in stack.containers if stack.runs_agent(c)])


def render_puppet_conf(server: Container, domain: str) -> str:
    return render("puppet/puppet.conf.j2", certname=fqdn(server, domain), mount=PUPPET_MOUNT, environment=ENVIRONMENT)


def module_files(root: Path = PUPPET_MODULES) -> dict[str, str]:
    """The repository's Puppet modules: path relative to modules/ -> text."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def puppet_files(stack: Stack, server: Container, domain: str) -> dict[str, str]:
    """Every file of the Puppet server's folder (relative paths): its config, the autosign list, the environment."""
    env = {f"{ENVIRONMENT}/manifests/site.pp": render_site_pp(stack, domain),
           f"{ENVIRONMENT}/data/common.yaml": render_hieradata(stack, domain),
           f"{ENVIRONMENT}/hiera.yaml": render_hiera_config()}
    env.update({f"{ENVIRONMENT}/modules/{p}": t for p, t in module_files().items()})
    return {"puppet.conf": render_puppet_conf(server, domain), "autosign.conf": render_autosign(stack, domain), **env}


def render_haproxy(stack: Stack, domain: str, dns_servers: list[str]) -> str:
    """haproxy.cfg from the config alone: backends name the role's configured containers, resolved through
    dnsmasq, so no create, remove or new address changes the file (one push less per command)."""
    services = [(b, [c for c in stack.containers if c.role == role.name]) for role in stack.roles
                for b in role.balance]
    galera = {b.name: GALERA_CHECK_PORT for role in stack.roles if role.service == "galera" for b in role.balance}
    return render("haproxy/haproxy.cfg.j2", services=services, domain=domain, dns_servers=dns_servers,
                  stats_port=HAPROXY_STATS_PORT, galera=galera)


def render_supervisor(c: Container) -> str:
    """The haproxy container's PID 1: haproxy, and keepalived when its role has a vip."""
    return render("haproxy/supervise.sh.j2", mount=HAPROXY_MOUNT, keepalived=c.vip is not None)


def start_files(c: Container) -> dict[str, str]:
    """The files a service container's PID 1 starts from (its supervisor and the scripts that come with it), by
    name in its service folder. They are written when the container is created and read from then on, so files
    that differ from what this dockstack renders (a newer version) mean re-creating it: they are part of its
    spec (dockercli.spec's `supervisor`)."""
    if c.service == "haproxy":
        return {"supervise.sh": render_supervisor(c)}
    if c.service == "galera":
        return {name: render_galera(name) for name in ("entrypoint", "clustercheck")}
    if c.service == "zookeeper":
        return {name: render_zookeeper(name) for name in ("entrypoint", "ask")}
    if c.service == "openstack":
        return {name: render_openstack(name) for name in OPENSTACK_FILES}
    return {}


VRRP_TOP_PRIORITY = 150  # the role's first container; each later one 10 less (at least 1)


def vrrp_priority(stack: Stack, c: Container) -> int:
    """c's VRRP priority: config order decides who takes the VIP first; nopreempt keeps it where it is after."""
    return max(1, VRRP_TOP_PRIORITY - 10 * stack.of_role(c.role).index(c))


def render_keepalived(stack: Stack, c: Container, net: Network) -> str:
    """keepalived.conf of a haproxy container whose role has a vip (it holds the VRRP password: a secret)."""
    if c.vip is None:
        raise ValueError(f"{c.name}: its role has no vip")
    return render("haproxy/keepalived.conf.j2", name=c.name, role=c.role, vip=c.vip, domain=net.domain,
                  priority=vrrp_priority(stack, c), prefixlen=net.subnet.prefixlen)


GALERA_CNF = "/etc/mysql/mariadb.conf.d/99-dockstack-galera.cnf"  # written by profile::galera (Puppet)
GALERA_SST_CNF = "/etc/mysql/mariadb.conf.d/98-dockstack-sst.cnf"  # wsrep_sst_auth, 0600, by the supervisor
GALERA_CHECK_PORT = 9200  # the clustercheck haproxy asks (option httpchk), served in each galera container
# seconds a running node may stay outside the primary component while a member is Synced before its supervisor
# restarts mariadbd (a joiner Galera gave up on after a failed transfer): well past a join's non-Primary moments
GALERA_REJOIN_AFTER = 20


def render_galera(name: str) -> str:
    """A galera container's supervisor (`entrypoint`) or health check (`clustercheck`): constant for the stack."""
    return render(f"galera/{name}.sh.j2", mount=GALERA_MOUNT, cnf=GALERA_CNF, sst_cnf=GALERA_SST_CNF,
                  check_port=GALERA_CHECK_PORT, rejoin_after=GALERA_REJOIN_AFTER)


ZOOKEEPER_CFG = "/etc/zookeeper/conf_dockstack/zoo.cfg"  # written by profile::zookeeper (Puppet)
ZOOKEEPER_CLIENT_PORT = 2181  # profile::zookeeper's client_port: where `ask` (the readiness check) asks
ZOOKEEPER_WORDS = ("ruok", "srvr")  # the four-letter words zoo.cfg whitelists and `ask` sends
# ZooKeeper's JVM: a 128 MiB heap (plenty for the control plane's few znodes), the client compiler only and the
# serial collector, which start it faster and smaller on a small machine (the JVM's defaults size the heap from
# the host's memory)
ZOOKEEPER_JAVA_ARGS = ("-Xms32m", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                       "-XX:+CrashOnOutOfMemoryError")
# Debian's zookeeper.jar names its dependencies in its manifest; SLF4J's log4j binding and log4j 1.2 (Debian's
# libzookeeper-java depends on both) make it log through Debian's log4j.properties
ZOOKEEPER_CLASSPATH = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-log4j12.jar",
                       "/usr/share/java/log4j-1.2.jar")


def render_zookeeper(name: str) -> str:
    """A zookeeper container's supervisor (`entrypoint`) or four-letter-word client (`ask`): constant for the
    stack."""
    return render(f"zookeeper/{name}.sh.j2", mount=ZOOKEEPER_MOUNT, cfg=ZOOKEEPER_CFG, data=ZOOKEEPER_DATA,
                  port=ZOOKEEPER_CLIENT_PORT, words=ZOOKEEPER_WORDS, java_args=ZOOKEEPER_JAVA_ARGS,
                  classpath=ZOOKEEPER_CLASSPATH)


OPENSTACK_SETTINGS = "/etc/dockstack/openstack.env"  # written by profile::openstack (Puppet): endpoints, no secret
OPENSTACK_STATE = "/run/dockstack-openstack"  # inside the container: the supervisor's phase and each service's state
OPENSTACK_FILES = {"entrypoint": "entrypoint.sh.j2", "check": "check.sh.j2", "bootstrap": "bootstrap.py.j2"}
OPENSTACK_SETTLE = 30  # seconds a restarted service still counts as not ready, so `inv status` shows it died
HORIZON_WSGI = "/usr/share/openstack-dashboard/wsgi.py"
HORIZON_STATIC = "/var/lib/openstack-dashboard/static"


def render_openstack(name: str) -> str:
    """An openstack container's supervisor (`entrypoint`), readiness check (`check`) or catalog script (`bootstrap`):
    constant for the stack (where clients reach the services comes from Puppet's settings file)."""
    return render(f"openstack/{OPENSTACK_FILES[name]}", mount=OPENSTACK_MOUNT, settings=OPENSTACK_SETTINGS,
                  state=OPENSTACK_STATE, settle=OPENSTACK_SETTLE, horizon_wsgi=HORIZON_WSGI,
                  horizon_static=HORIZON_STATIC)
