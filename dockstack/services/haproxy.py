"""haproxy: balances the roles' `balance:` services; with a role `vip:`, keepalived beside it holds the virtual IP
on one of the role's containers (VRRP). Its files are rendered from the config alone: backends name the
containers by DNS name (resolved through dnsmasq), so no create, remove or new address changes them."""

from __future__ import annotations

from dockstack.config import ONE, Container, Network, Stack
from dockstack.config.tls import SERVED_FILE as TLS_FILE
from dockstack.render import render
from dockstack.services.base import DRAIN_BOUND, BalanceCheck, Context, FileCheck, Service

MOUNT = "/etc/haproxy"
STATS_PORT = 8404  # haproxy's runtime API inside its containers (127.0.0.1): reserved, no balanced service on it
TLS_PEM = f"{MOUNT}/{TLS_FILE}"  # the VIP's certificate, the CA's and its key (a secret), for the HTTPS frontends
# `haproxy -c` of a new haproxy.cfg, against the tls.pem pushed with it when there is one (the mount is read-only:
# the copy that names it goes to /tmp)
CFG_CHECK = (f'd=${{1%/*}}; pem={TLS_PEM}; if [ -f "$d/tls.pem" ]; then pem=$d/tls.pem; fi; '
             f'sed "s#{TLS_PEM}#$pem#" "$1" > /tmp/haproxy-check.cfg && haproxy -c -f /tmp/haproxy-check.cfg')
# keepalived adds and removes the VIP on eth0 (NET_ADMIN) and sends VRRP adverts on a raw socket (NET_RAW, in
# Docker's default set, named so a daemon with a narrower default still gives it)
VIP_CAPS = ["NET_ADMIN", "NET_RAW"]
VRRP_TOP_PRIORITY = 150  # the role's first container; each later one 10 less (at least 1)
# how long a VIP holder that is stopping lets the connections under way end before it hands the VIP over: short,
# as new connections wait meanwhile (their SYN is sent again after 1 s, which should find the peer holding it)
HANDOVER_MS = 500


def render_haproxy(ctx: Context) -> str:
    """haproxy.cfg: a frontend and a backend per balanced service, each checked as its service's definition says
    (BalanceCheck), else by a TCP connect."""
    services = [(b, list(ctx.stack.of_role(role.name))) for role in ctx.stack.roles for b in role.balance]
    checked: dict[str, BalanceCheck] = {}
    for role in ctx.stack.roles:
        d = ctx.definition(role.service)
        if d and d.balance_check:
            checked.update({b.name: d.balance_check for b in role.balance})
    return render("haproxy/haproxy.cfg.j2", services=services, domain=ctx.network.domain,
                  dns_servers=list(ctx.dns_servers), stats_port=STATS_PORT, checked=checked,
                  tls=TLS_PEM if ctx.stack.tls else None)


def render_member() -> str:
    """The script dockstack runs in it to drain a balanced container before that stops, and take it back after."""
    return render("haproxy/member.sh.j2", mount=MOUNT, stats_port=STATS_PORT, drain_bound=DRAIN_BOUND)


def render_supervisor(c: Container) -> str:
    """The container's PID 1: haproxy, and keepalived when its role has a vip (a clean stop hands the VIP over)."""
    return render("haproxy/supervise.sh.j2", mount=MOUNT, keepalived=c.vip is not None,
                  vip_ip=c.vip.ip if c.vip else None, handover_ms=HANDOVER_MS, stats_port=STATS_PORT)


def render_ready(stack: Stack, c: Container, domain: str) -> str:
    """Its readiness check: haproxy runs; with a vip, keepalived runs and the VIP answers on the first balanced
    port (on this container or the other), so a deploy ends with the VIP held."""
    port = next((b.port for r in stack.roles for b in r.balance), None)
    return render("haproxy/ready.sh.j2", vip=c.vip, port=port, stats_port=STATS_PORT, domain=domain)


def vrrp_priority(stack: Stack, c: Container) -> int:
    """c's VRRP priority: config order decides who takes the VIP first; nopreempt keeps it where it is after."""
    return max(1, VRRP_TOP_PRIORITY - 10 * stack.of_role(c.role).index(c))


def vrrp_peers(stack: Stack, c: Container) -> list[str]:
    """The static addresses of c's role's other containers (validation makes every one static): the only ones
    its keepalived sends adverts to and hears."""
    return [str(p.ip) for p in stack.of_role(c.role) if p is not c and p.ip is not None]


def render_keepalived(stack: Stack, c: Container, net: Network) -> str:
    """keepalived.conf of a container whose role has a vip (it holds the VRRP password: a secret)."""
    if c.vip is None or c.ip is None:
        raise ValueError(f"{c.name}: its role has no vip, or it has no static ip")
    return render("haproxy/keepalived.conf.j2", name=c.name, role=c.role, vip=c.vip, domain=net.domain,
                  priority=vrrp_priority(stack, c), prefixlen=net.subnet.prefixlen, own_ip=str(c.ip),
                  peers=vrrp_peers(stack, c))


class Haproxy(Service):
    def cap_add(self, c: Container) -> list[str]:
        return list(VIP_CAPS) if c.vip is not None else []

    def start_files(self, c: Container) -> dict[str, str]:
        return {"supervise.sh": render_supervisor(c)}

    def member_state(self, stack: Stack, balancer: Container, member: Container, state: str) -> list[str] | None:
        backends = [f"{b.name}_servers" for b in stack.role(member.role).balance]
        return ["bash", f"{MOUNT}/member", state, member.name, *backends] if backends else None

    def files(self, ctx: Context, c: Container) -> dict[str, str]:
        files = {"haproxy.cfg": render_haproxy(ctx), "ready": render_ready(ctx.stack, c, ctx.network.domain),
                 "member": render_member(), **self.start_files(c)}
        if c.vip is not None:
            files["keepalived.conf"] = render_keepalived(ctx.stack, c, ctx.network)
        if ctx.stack.tls is not None:
            files[TLS_FILE] = ctx.stack.tls.served
        return files


SERVICE = Haproxy(
    name="haproxy", provides_vip=True, reserved_ports=((STATS_PORT, "haproxy's runtime API port"),),
    check=f"bash {MOUNT}/ready", check_timeout=20,
    quorum=ONE,  # one haproxy serves every balanced port (and holds the VIP)
    mount=MOUNT,
    read_only_mount=True,  # it only reads its folder
    # haproxy and, with a vip, keepalived, under a small supervisor (templates/haproxy/supervise.sh.j2)
    command=("bash", f"{MOUNT}/supervise.sh"),
    private_files=frozenset({"keepalived.conf", TLS_FILE}),  # the VRRP password, the certificate's key
    follows_stack=True,  # backends, frontends and the VRRP peers follow containers.yaml
    # checked in the running container before they replace the old ones; SIGUSR2 to its supervisor then makes
    # haproxy reload (master-worker mode) and keepalived re-read its file
    file_checks=(FileCheck("haproxy.cfg", CFG_CHECK, "haproxy -c"),
                 FileCheck("keepalived.conf", 'keepalived -t -f "$1"', "keepalived -t")),
    reload_signal="USR2",
    stop_timeout=10,  # a clean stop (its supervisor ends both; keepalived says priority 0 so the peer takes the VIP)
    digested=("*",),
)
