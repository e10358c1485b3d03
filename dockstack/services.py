"""Where each service dockstack runs keeps its files: the folder on the host, where it is mounted in the
container, and what the container runs. Used to build `docker run` (dockercli), to push files (actions,
registries) and to read them back (world, addressbook)."""

from __future__ import annotations

from dockstack.config import Container

SERVICE_ROOT = "/var/lib/dockstack"  # on a host: one folder per service container, SERVICE_ROOT/ROLE/NAME
DNSMASQ_DIR = f"{SERVICE_ROOT}/dnsmasq"
DNSMASQ_MOUNT = "/var/lib/dockstack"  # where that folder appears inside the dnsmasq container
PUPPET_MOUNT = "/etc/puppet/dockstack"  # puppet.conf, autosign.conf, environments/production
# Puppet server's JVM: a 512 MiB heap (Debian's default is 1 GiB) and the client compiler only, which
# starts JRuby faster on a small machine (measured: README, "Puppet"); the rest is Debian's unit file.
PUPPETSERVER_JAVA_ARGS = ("-Xms256m", "-Xmx512m", "-XX:TieredStopAtLevel=1",
                          "-Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger",
                          "-Djruby.lib=/usr/share/jruby/lib", "-XX:+CrashOnOutOfMemoryError")
# Puppet server in the foreground as Debian's systemd unit starts it, with dockstack's puppet.conf (rendered into
# the mounted folder; a link, so a pushed file, renamed into place, is what the server reads next)
PUPPETSERVER_SCRIPT = r"""
mount=$1
shift
ln -sf "$mount/puppet.conf" /etc/puppet/puppet.conf
mkdir -p /run/puppetserver
exec java "$@" -jar /usr/share/puppetserver/puppetserver.jar --config /etc/puppet/puppetserver/conf.d \
  --bootstrap-config /etc/puppet/puppetserver/services.d
"""
HAPROXY_MOUNT = "/etc/haproxy"
# galera: dockstack's supervisor, clustercheck and start decision in the mounted folder; the data in its data/
# subfolder, mounted at MariaDB's datadir, so it outlives the container (re-created, it finds its data again)
GALERA_MOUNT = "/var/lib/dockstack/galera"
GALERA_DATA = "/var/lib/mysql"
GALERA_STOP_TIMEOUT = 60  # seconds docker stop waits: a clean shutdown writes grastate.dat's seqno
# zookeeper: dockstack's supervisor and four-letter-word client in the mounted folder; the data in its data/
# subfolder, mounted at Debian's dataDir, so it outlives the container like galera's
ZOOKEEPER_MOUNT = "/var/lib/dockstack/zookeeper"
ZOOKEEPER_DATA = "/var/lib/zookeeper"
# services whose data lives in the service folder's data/ subfolder on the host, mounted here in the container
DATA_MOUNTS = {"galera": GALERA_DATA, "zookeeper": ZOOKEEPER_DATA}
# openstack: dockstack's supervisor, its readiness check and keystone's bootstrap in the mounted folder; glance's
# images in its images/ subfolder, so they outlive the container (its databases live in Galera)
OPENSTACK_MOUNT = "/var/lib/dockstack/openstack"
OPENSTACK_IMAGES = "/var/lib/glance/images"

# Services dockstack runs and feeds with files it renders (a role declares one): where the folder is
# mounted, what runs.
SERVICE_MOUNTS = {"dnsmasq": DNSMASQ_MOUNT, "puppet": PUPPET_MOUNT, "haproxy": HAPROXY_MOUNT, "galera": GALERA_MOUNT,
                  "zookeeper": ZOOKEEPER_MOUNT, "openstack": OPENSTACK_MOUNT}
SERVICE_COMMANDS = {
    "dnsmasq": ["dnsmasq", "--keep-in-foreground", f"--conf-file={DNSMASQ_MOUNT}/dnsmasq.conf"],
    # haproxy and, with a vip, keepalived, under a small supervisor (templates/haproxy/supervise.sh.j2)
    "haproxy": ["bash", f"{HAPROXY_MOUNT}/supervise.sh"],
    "puppet": ["sh", "-c", PUPPETSERVER_SCRIPT, "sh", PUPPET_MOUNT, *PUPPETSERVER_JAVA_ARGS],
    "galera": ["sh", f"{GALERA_MOUNT}/entrypoint"],
    # ZooKeeper once Puppet wrote its zoo.cfg (templates/zookeeper/entrypoint.sh.j2)
    "zookeeper": ["sh", f"{ZOOKEEPER_MOUNT}/entrypoint"],
    "openstack": ["bash", f"{OPENSTACK_MOUNT}/entrypoint"],
}
# service files that hold a secret (the VRRP password): written readable by root only
PRIVATE_FILES = frozenset({"keepalived.conf"})
# keepalived adds and removes the VIP on eth0 (NET_ADMIN) and sends VRRP adverts on a raw socket (NET_RAW, in
# Docker's default set, named so a daemon with a narrower default still gives it)
VIP_CAPS = ["NET_ADMIN", "NET_RAW"]


def service_dir(c: Container) -> str:
    """The host folder holding the files dockstack renders for a service container."""
    return f"{SERVICE_ROOT}/{c.service or c.role}/{c.name}"
