"""dnsmasq: DHCP and DNS for every other container, and the keeper of the address book (its registry, hosts and
dhcp-hosts folders live in its service folder, written by the address book's transaction script)."""

from __future__ import annotations

from dockstack import ipam
from dockstack.config import Container, ServiceTraits
from dockstack.services import SERVICE_ROOT
from dockstack.services.base import Context, Service

DNSMASQ_DIR = f"{SERVICE_ROOT}/dnsmasq"  # on a host: each dnsmasq container's folder is DNSMASQ_DIR/NAME
MOUNT = "/var/lib/dockstack"  # where that folder appears inside the dnsmasq container
BOOK_FOLDERS = ("registry", "dhcp-hosts.d", "hosts.d")  # the address book's copy, made with the container


class Dnsmasq(Service):
    def cap_add(self, c: Container) -> list[str]:
        return ["NET_ADMIN"]  # to serve DHCP

    def files(self, ctx: Context, c: Container) -> dict[str, str]:
        """dnsmasq.conf: its own slice of dhcp_range among the stack's dnsmasq containers."""
        ds = ctx.stack.dnsmasq_containers()
        return {"dnsmasq.conf": ipam.render_dnsmasq_conf(ctx.network, c, list(ctx.dns_servers), ds.index(c), len(ds))}

    def folders(self, c: Container) -> tuple[str, ...]:
        return BOOK_FOLDERS


SERVICE = Dnsmasq(
    traits=ServiceTraits("dnsmasq", serves_addresses=True, check="pgrep -x dnsmasq", check_timeout=20),
    mount=MOUNT,
    command=("dnsmasq", "--keep-in-foreground", f"--conf-file={MOUNT}/dnsmasq.conf"),
    restart_on_change=True,  # SIGHUP re-reads its hosts files, not dnsmasq.conf
    digested=("dnsmasq.conf",),  # not the address book beside it: the transaction script keeps that
)
