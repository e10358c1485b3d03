"""dnsmasq: DHCP and DNS for every other container, and the keeper of the address book (its registry, hosts and
dhcp-hosts folders live in its service folder, written by the address book's transaction script as root on the
host). The container gets that folder read-only, and writes only its lease file, in lease/: so nothing in it can
plant a symlink where the host writes (a root write on the host would follow it)."""

from __future__ import annotations

from dockstack import ipam
from dockstack.config import Container
from dockstack.services import SERVICE_ROOT
from dockstack.services.base import Context, Service

DNSMASQ_DIR = f"{SERVICE_ROOT}/dnsmasq"  # on a host: each dnsmasq container's folder is DNSMASQ_DIR/NAME
MOUNT = "/var/lib/dockstack"  # where that folder appears inside the dnsmasq container
BOOK_FOLDERS = ("registry", "dhcp-hosts.d", "hosts.d")  # the address book's copy, made with the container
LEASE = "lease"  # the one subfolder the container writes: dnsmasq's lease file (dnsmasq.conf's dhcp-leasefile)


class Dnsmasq(Service):
    def cap_add(self, c: Container) -> list[str]:
        return ["NET_ADMIN"]  # to serve DHCP

    def files(self, ctx: Context, c: Container) -> dict[str, str]:
        """dnsmasq.conf: its own slice of dhcp_range among the stack's dnsmasq containers."""
        ds = ctx.stack.address_providers()
        return {"dnsmasq.conf": ipam.render_dnsmasq_conf(ctx.network, c, list(ctx.dns_servers), ds.index(c), len(ds))}

    def folders(self, c: Container) -> tuple[str, ...]:
        return (*BOOK_FOLDERS, LEASE)


SERVICE = Dnsmasq(
    name="dnsmasq", provides_addresses=True, check="pgrep -x dnsmasq", check_timeout=20,
    mount=MOUNT,
    read_only_mount=True,  # the host's transaction script writes there as root
    data=((LEASE, f"{MOUNT}/{LEASE}"),),
    command=("dnsmasq", "--keep-in-foreground", f"--conf-file={MOUNT}/dnsmasq.conf"),
    restart_on_change=True,  # SIGHUP re-reads its hosts files, not dnsmasq.conf
    digested=("dnsmasq.conf",),  # not the address book beside it: the transaction script keeps that
)
