"""docker CLI command lines as pure argv builders (API 1.41-safe flags only)."""

from __future__ import annotations

import hashlib
import json

from dockstack.config import Container, Network

LABEL_MANAGED = "org.dockstack.managed"
LABEL_ROLE = "org.dockstack.role"
LABEL_SPEC = "org.dockstack.spec"  # digests of what the container was created from, to see drift
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


def spec(c: Container) -> dict[str, object]:
    """The parts of the config that a container is created from; a change means recreate. A service container's
    supervisor files count too (registries.start_files): a newer dockstack's reach it only by a new container."""
    from dockstack import registries  # renders with this module's paths: imported here, where it is needed

    out: dict[str, object] = {
        "image": c.image, "role": c.role, "cap_add": cap_add(c), "mac": c.mac, "ip": str(c.ip) if c.ip else None,
        "volumes": list(c.volumes), "env": [list(e) for e in c.env], "command": list(c.command), "service": c.service}
    files = registries.start_files(c)
    if files:
        out["supervisor"] = sorted(files.items())
    return out


def cap_add(c: Container) -> list[str]:
    """Capabilities beyond Docker's default set: only dnsmasq (to serve DHCP) and the haproxy containers of a role
    with a vip (keepalived moves the VIP) need NET_ADMIN. Other containers' dhclient runs with the host's
    privileges in the container's namespaces (actions.ACTION_SCRIPT), so their own processes never hold it."""
    if c.is_dnsmasq:
        return ["NET_ADMIN"]
    return list(VIP_CAPS) if c.service == "haproxy" and c.vip is not None else []


def spec_digests(c: Container) -> dict[str, str]:
    """Each spec field as a short SHA-256 of its value: enough to say what changed, while env values
    (passwords among them) never reach a label, `docker inspect` of the label or `docker events`."""
    return {k: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:16] for k, v in spec(c).items()}


def spec_label(c: Container) -> str:
    return json.dumps(spec_digests(c), sort_keys=True, separators=(",", ":"))


def env_file(c: Container) -> str:
    """c's env as `docker run --env-file` reads it: one KEY=VALUE a line, the value verbatim (config.py refused
    newlines and control characters). It goes to the host on the action script's standard input, never on a
    command line, where any user of the host could read it (ps, /proc/PID/cmdline)."""
    return "".join(f"{k}={v}\n" for k, v in c.env)


def run_argv(c: Container, net: Network, dns_servers: list[str]) -> list[str]:
    """`docker run` for a container: no Docker networking (dockstack plumbs eth0), no extra privilege; its env
    comes from the file the action script writes (env_file), so no env value is in this argv."""
    argv = ["docker", "run", "--detach", "--name", c.name, "--hostname", c.name, "--network", "none"]
    for cap in cap_add(c):
        argv += ["--cap-add", cap]
    argv += ["--label", f"{LABEL_MANAGED}=true", "--label", f"{LABEL_ROLE}={c.role}",
            "--label", f"{LABEL_SPEC}={spec_label(c)}", "--dns-search", net.domain]
    for server in (["127.0.0.1"] if c.is_dnsmasq else dns_servers):
        argv += ["--dns", server]
    if c.service in SERVICE_MOUNTS:
        argv += ["--volume", f"{service_dir(c)}:{SERVICE_MOUNTS[c.service]}"]
    if c.service in DATA_MOUNTS:
        argv += ["--volume", f"{service_dir(c)}/data:{DATA_MOUNTS[c.service]}"]
    if c.service == "galera":
        argv += ["--stop-timeout", str(GALERA_STOP_TIMEOUT)]
    if c.service == "openstack":
        argv += ["--volume", f"{service_dir(c)}/images:{OPENSTACK_IMAGES}"]
    for v in c.volumes:
        argv += ["--volume", v]
    argv.append(c.image)  # no env: its values would show in the host's process list (see env_file)
    if c.command:
        argv += list(c.command)
    elif c.service in SERVICE_COMMANDS:
        argv += SERVICE_COMMANDS[c.service]
    return argv
