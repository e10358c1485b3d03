"""dnsmasq: DHCP and DNS for every other container, and the keeper of the address book (its registry, hosts and
dhcp-hosts folders live in its service folder, written by the address book's transaction script as root on the
host). The container gets that folder read-only, and writes only its lease file, in lease/: so nothing in it can
plant a symlink where the host writes (a root write on the host would follow it)."""

from __future__ import annotations

from dockstack import ipam
from dockstack.config import Container
from dockstack.render import render
from dockstack.services import SERVICE_ROOT
from dockstack.services.base import Context, Service

DNSMASQ_DIR = f"{SERVICE_ROOT}/dnsmasq"  # on a host: each dnsmasq container's folder is DNSMASQ_DIR/NAME
MOUNT = "/var/lib/dockstack"  # where that folder appears inside the dnsmasq container
BOOK_FOLDERS = ("registry", "dhcp-hosts.d", "hosts.d")  # the address book's copy, made with the container
LEASE = "lease"  # the one subfolder the container writes: dnsmasq's lease file (dnsmasq.conf's dhcp-leasefile)
# what its readiness check asks (busybox's nslookup, on 127.0.0.1): a TXT record its dnsmasq.conf serves (one label:
# answered from that file, never forwarded), and the answer's text
ANSWER = ("dockstack-check", "answering")
ANSWER_BOUND = 3  # seconds the check waits for the answer


def render_check() -> str:
    """Its readiness check (`check` in its folder): dnsmasq answers ANSWER's question within ANSWER_BOUND s."""
    return render("dnsmasq/check.sh.j2", mount=MOUNT, name=ANSWER[0], text=ANSWER[1], bound=ANSWER_BOUND)


class Dnsmasq(Service):
    def cap_add(self, c: Container) -> list[str]:
        return ["NET_ADMIN"]  # to serve DHCP

    def start_files(self, c: Container) -> dict[str, str]:
        return {"check": render_check()}

    def files(self, ctx: Context, c: Container) -> dict[str, str]:
        """dnsmasq.conf: its own slice of dhcp_range among the stack's dnsmasq containers, and the record its check
        asks for."""
        ds = ctx.stack.address_providers()
        conf = ipam.render_dnsmasq_conf(ctx.network, c, list(ctx.dns_servers), ds.index(c), len(ds), answer=ANSWER)
        return {"dnsmasq.conf": conf, **self.start_files(c)}

    def folders(self, c: Container) -> tuple[str, ...]:
        return (*BOOK_FOLDERS, LEASE)


SERVICE = Dnsmasq(
    name="dnsmasq", provides_addresses=True, check=f"sh {MOUNT}/check", check_timeout=20,
    mount=MOUNT,
    read_only_mount=True,  # the host's transaction script writes there as root
    data=((LEASE, f"{MOUNT}/{LEASE}"),),
    command=("dnsmasq", "--keep-in-foreground", f"--conf-file={MOUNT}/dnsmasq.conf"),
    restart_on_change=True,  # SIGHUP re-reads its hosts files, not dnsmasq.conf
    # not the address book beside it: the transaction script keeps that
    digested=("dnsmasq.conf", "check"),
)
