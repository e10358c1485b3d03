"""compute: a hypervisor of the cloud. nova-compute with libvirt and QEMU (TCG: these machines have no usable KVM)
under dockstack's supervisor; its settings from Puppet (profile::nova::compute), its passwords (the broker's, nova's
service user's) from its secret files. Its guests' disks live in its host folder's instances/, so they outlive the
container; its host name (the container's name) keeps its hypervisor record across a re-create.

Privileges beyond Docker's default set, and nothing else: NET_ADMIN (libvirt makes a guest's tap device and puts it
on the bridge neutron's agent makes, in the container's own network namespace) and the device /dev/net/tun (the
tap). libvirt runs without cgroups, namespaces or a security driver of its own (templates/compute/qemu.conf): the
container is the guests' confinement, and QEMU runs as the container's root under it."""

from __future__ import annotations

from dockstack.config import SECRETS_MOUNT, Container
from dockstack.config.tls import CONTAINER_CA_FILE
from dockstack.render import render
from dockstack.services.base import Service

MOUNT = "/var/lib/dockstack/compute"  # supervisor, readiness check, libvirt's settings
INSTANCES = "/var/lib/nova/instances"  # the host folder's instances/: guests' disks and console logs
SETTINGS = "/etc/dockstack/compute.conf"  # written by profile::nova::compute (Puppet): the broker, keystone
STATE = "/run/dockstack-compute"  # inside the container: the supervisor's phase and each service's state
# (secrets file key, file in SECRETS_MOUNT): the openstack container's broker password and nova's service user's
SECRET_FILES = (("rabbitmq_password", "RABBITMQ_PASSWORD"), ("nova_service_password", "NOVA_SERVICE_PASSWORD"))
FILES = {"entrypoint": "entrypoint.sh.j2", "check": "check.py.j2", "qemu.conf": "qemu.conf", "libvirtd.conf":
         "libvirtd.conf"}
SETTLE = 30  # seconds a restarted service still counts as not ready, so `inv status` shows it died


def render_file(name: str) -> str:
    """Its supervisor, readiness check or libvirt's settings: constant for the stack."""
    return render(f"compute/{FILES[name]}", mount=MOUNT, settings=SETTINGS, state=STATE, instances=INSTANCES,
                  secrets=SECRETS_MOUNT, secret_files=[name for _, name in SECRET_FILES], ca_file=CONTAINER_CA_FILE,
                  settle=SETTLE)


class Compute(Service):
    def start_files(self, c: Container) -> dict[str, str]:
        return {name: render_file(name) for name in FILES}

    def cap_add(self, c: Container) -> list[str]:
        return ["NET_ADMIN"]


SERVICE = Compute(
    name="compute", secret_files=SECRET_FILES,
    # ready when nova-compute runs and the control plane counts its service `up` (nova's os-services, asked as nova's
    # service user): a first start registers the hypervisor and its resource provider
    check=f"python3 {MOUNT}/check", check_timeout=300, settle=SETTLE + 15,
    mount=MOUNT,
    read_only_mount=True,  # it only reads its folder
    command=("bash", f"{MOUNT}/entrypoint"),
    devices=("/dev/net/tun",),
    data=(("instances", INSTANCES),),
    stop_timeout=60,  # nova-compute and libvirt end cleanly; a running guest is shut down with them
)
