"""The registry of running containers per role, rendered for puppet (site.pp, hieradata); haproxy.cfg, its
container's supervisor and keepalived.conf from config."""

from __future__ import annotations

from dataclasses import dataclass

from dockstack.config import HAPROXY_STATS_PORT, Container, Network, Stack
from dockstack.dockercli import HAPROXY_MOUNT
from dockstack.ipam import Record
from dockstack.render import render


@dataclass(frozen=True)
class Registered:
    """A running container with an address: what puppet nodes and hieradata are made of."""

    name: str
    role: str
    host: str
    ip: str
    fqdn: str


def registered(stack: Stack, records: dict[str, Record], running: set[str], domain: str) -> list[Registered]:
    """Running containers that have an address, in role order, then name order."""
    order = {r.name: i for i, r in enumerate(stack.roles)}
    out = [Registered(r.name, r.role, r.host, r.ip, f"{r.name}.{domain}")
           for r in records.values() if r.name in running]
    return sorted(out, key=lambda x: (order.get(x.role, len(order)), x.name))


def render_site_pp(stack: Stack, regs: list[Registered]) -> str:
    classes = {r.name: r.classes for r in stack.roles}
    return render("puppet/site.pp.j2", nodes=[(x, classes.get(x.role, ())) for x in regs])


def render_hieradata(stack: Stack, regs: list[Registered], domain: str) -> str:
    by_role = {role.name: [x for x in regs if x.role == role.name] for role in stack.roles}
    return render("puppet/common.yaml.j2", domain=domain, by_role={k: v for k, v in by_role.items() if v})


def render_hiera_config() -> str:
    return render("puppet/hiera.yaml.j2")


def render_haproxy(stack: Stack, domain: str, dns_servers: list[str]) -> str:
    """haproxy.cfg from the config alone: backends name the role's configured containers, resolved through
    dnsmasq, so no create, remove or new address changes the file (one push less per command)."""
    services = [(b, [c for c in stack.containers if c.role == role.name]) for role in stack.roles
                for b in role.balance]
    return render("haproxy/haproxy.cfg.j2", services=services, domain=domain, dns_servers=dns_servers,
                  stats_port=HAPROXY_STATS_PORT)


def render_supervisor(c: Container) -> str:
    """The haproxy container's PID 1: haproxy, and keepalived when its role has a vip."""
    return render("haproxy/supervise.sh.j2", mount=HAPROXY_MOUNT, keepalived=c.vip is not None)


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
