"""Host networking over SSH with iproute2: the container bridge, the VXLAN mesh, the veth names.

The shell scripts here are constant text; every value reaches them as a quoted positional
argument, so no configuration value is ever pasted into a command.
"""

from __future__ import annotations

import hashlib

from dockstack import firewall
from dockstack.config import Host, Inventory, Network
from dockstack.facts import NetworkFacts
from dockstack.remote import quote
from dockstack.scripts import script

# Idempotent: bridge, VXLAN device with one flood entry per peer (stale peers removed) and a filter that takes
# VXLAN from the peers only, or an uplink, and the ACCEPT rule that keeps Docker's FORWARD DROP off the bridge; the
# rules (dockstack.firewall) written whole in one iptables-restore transaction.
# The text: dockstack/scripts/host_network.sh.
HOST_NETWORK_SCRIPT = script("host_network.sh")

def peers(inv: Inventory, host: Host) -> list[str]:
    return [h.underlay for h in inv.hosts if h.name != host.name]


def host_network_command(net: Network, host: Host, peer_addresses: list[str]) -> str:
    """The peers go in address order: the order of the filter's rules (firewall.vxlan_filter)."""
    return quote(["sh", "-c", HOST_NETWORK_SCRIPT, "sh", net.bridge, net.mtu, net.join, net.vxlan_device,
                  net.vxlan_id, net.vxlan_port, host.underlay, net.uplink or "",
                  *firewall.peer_order(peer_addresses)])


def veth_names(container_name: str) -> tuple[str, str]:
    """Host-side and temporary veth names (15-char limit), stable per container name."""
    h = hashlib.sha1(container_name.encode()).hexdigest()[:8]
    return f"dsv{h}", f"dst{h}"


def network_needs(net: Network, host: Host, peer_addresses: list[str], found: NetworkFacts) -> str | None:
    """Why the host's container network must be set up (None: it is as the config wants it): the first thing amiss
    with its devices, then everything that differs in the rules dockstack owns (firewall.drift), one finding each."""
    return "; ".join(_devices_need(net, peer_addresses, found)
                     + firewall.drift(net, peer_addresses, found.firewall)) or None


def _devices_need(net: Network, peer_addresses: list[str], found: NetworkFacts) -> list[str]:
    """The first thing amiss with the bridge, the VXLAN device or the uplink ([]: nothing)."""
    if not found.bridge_up:
        return [f"bridge {net.bridge} missing or down"]
    if net.join == "vxlan":
        if found.vxlan_master != net.bridge:
            return [f"VXLAN device {net.vxlan_device} missing or not on {net.bridge}"]
        if found.peers != frozenset(peer_addresses):
            return ["VXLAN peers differ from hosts.yaml"]
    elif found.vxlan_master is not None:
        return [f"VXLAN device {net.vxlan_device} present with join: {net.join}"]
    if net.join == "uplink" and found.uplink_master != net.bridge:
        return [f"uplink {net.uplink} not on {net.bridge}"]
    if net.join != "uplink" and net.uplink and found.uplink_master == net.bridge:
        return [f"uplink {net.uplink} still on {net.bridge}"]
    return []
