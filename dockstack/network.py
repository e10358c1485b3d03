"""Host networking over SSH with iproute2: the container bridge, the VXLAN mesh, container veths.

The shell scripts here are constant text; every value reaches them as a quoted positional
argument, so no configuration value is ever pasted into a command.
"""

from __future__ import annotations

import hashlib

from dockstack.config import Host, Inventory, Network
from dockstack.remote import quote

# Idempotent: bridge, VXLAN device with one flood entry per peer (stale peers removed),
# or an uplink, and the ACCEPT rule that keeps Docker's FORWARD DROP off the bridge.
HOST_NETWORK_SCRIPT = r"""
set -e
br=$1 mtu=$2 join=$3 vx=$4 vni=$5 port=$6 local=$7 uplink=$8
shift 8
ip link show dev "$br" >/dev/null 2>&1 || ip link add "$br" mtu "$mtu" type bridge
ip link set "$br" up
# never both joins on one bridge: that would loop frames between the hosts
if [ "$join" != vxlan ] && ip link show dev "$vx" >/dev/null 2>&1; then ip link del "$vx"; fi
if [ "$join" != uplink ] && [ -n "$uplink" ] && ip -o link show dev "$uplink" 2>/dev/null | grep -q " master $br "; then
  ip link set "$uplink" nomaster
fi
if [ "$join" = vxlan ]; then
  ip link show dev "$vx" >/dev/null 2>&1 ||
    ip link add "$vx" mtu "$mtu" type vxlan id "$vni" local "$local" dstport "$port"
  ip link set "$vx" master "$br" up
  current=$(bridge fdb show dev "$vx" | awk '$1 == "00:00:00:00:00:00" && $2 == "dst" {print $3}')
  for peer in "$@"; do
    case " $(echo $current) " in *" $peer "*) ;; *) bridge fdb append 00:00:00:00:00:00 dev "$vx" dst "$peer" ;; esac
  done
  for old in $current; do
    case " $* " in *" $old "*) ;; *) bridge fdb del 00:00:00:00:00:00 dev "$vx" dst "$old" ;; esac
  done
elif [ "$join" = uplink ]; then
  ip link set "$uplink" master "$br" up
fi
if iptables -w -S DOCKER-USER >/dev/null 2>&1; then chain=DOCKER-USER; else chain=FORWARD; fi
iptables -w -C "$chain" -i "$br" -o "$br" -j ACCEPT 2>/dev/null || iptables -w -I "$chain" 1 -i "$br" -o "$br" -j ACCEPT
"""

# Give a running container (by PID) a fresh eth0 on the bridge, with the planned MAC if any.
PLUMB_SCRIPT = r"""
set -e
pid=$1 hv=$2 tmp=$3 mac=$4 mtu=$5 br=$6
cn() { nsenter -t "$pid" -n "$@"; }
ip link del "$hv" 2>/dev/null || true
ip link del "$tmp" 2>/dev/null || true
cn ip link del eth0 2>/dev/null || true
ip link add "$hv" mtu "$mtu" type veth peer name "$tmp" mtu "$mtu"
ip link set "$tmp" netns "$pid"
cn ip link set "$tmp" name eth0
if [ -n "$mac" ]; then cn ip link set eth0 address "$mac"; fi
cn ip link set lo up
cn ip link set eth0 up
ip link set "$hv" master "$br" up
cn ip -o link show dev eth0
"""

# Configure a static address inside the container's network namespace.
STATIC_IP_SCRIPT = r"""
set -e
pid=$1 cidr=$2 gw=$3
nsenter -t "$pid" -n ip addr flush dev eth0
nsenter -t "$pid" -n ip addr add "$cidr" dev eth0
if [ -n "$gw" ]; then nsenter -t "$pid" -n ip route replace default via "$gw"; fi
nsenter -t "$pid" -n ip -o -4 addr show dev eth0
"""


def peers(inv: Inventory, host: Host) -> list[str]:
    return [h.underlay for h in inv.hosts if h.name != host.name]


def host_network_command(net: Network, host: Host, peer_addresses: list[str]) -> str:
    return quote(["sh", "-c", HOST_NETWORK_SCRIPT, "sh", net.bridge, net.mtu, net.join, net.vxlan_device,
                  net.vxlan_id, net.vxlan_port, host.underlay, net.uplink or "", *peer_addresses])


def veth_names(container_name: str) -> tuple[str, str]:
    """Host-side and temporary veth names (15-char limit), stable per container name."""
    h = hashlib.sha1(container_name.encode()).hexdigest()[:8]
    return f"dsv{h}", f"dst{h}"


def plumb_command(net: Network, pid: int, container_name: str, mac: str | None) -> str:
    hv, tmp = veth_names(container_name)
    return quote(["sh", "-c", PLUMB_SCRIPT, "sh", pid, hv, tmp, mac or "", net.mtu, net.bridge])


def static_ip_command(net: Network, pid: int, ip: str) -> str:
    return quote(["sh", "-c", STATIC_IP_SCRIPT, "sh", pid, f"{ip}/{net.subnet.prefixlen}",
                  str(net.gateway) if net.gateway else ""])


def container_addr_command(pid: int) -> str:
    """eth0's link line (MAC) and IPv4 lines, read in the container's namespace (not the host's sysfs)."""
    return quote(["nsenter", "-t", pid, "-n", "sh", "-c", "ip -o link show dev eth0; ip -o -4 addr show dev eth0"])
