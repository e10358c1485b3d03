#!/bin/sh
# The host's container network, idempotent: the bridge, the VXLAN device with one flood entry per peer (stale
# peers removed) and a filter that takes VXLAN from the peers only, or an uplink, and the ACCEPT rule that keeps
# Docker's FORWARD DROP off the bridge.
# Called as (network.host_network_command; JOIN: vxlan, uplink or none; UPLINK may be empty):
#   sh -c "$HOST_NETWORK_SCRIPT" sh BRIDGE MTU JOIN VXLAN_DEVICE VNI PORT LOCAL_ADDRESS UPLINK [PEER...]
# Prints nothing of its own; stops with the exit code of the first command that fails (set -e).
set -e
br=$1 mtu=$2 join=$3 vx=$4 vni=$5 port=$6 local=$7 uplink=$8
shift 8
f=DOCKSTACK-VXLAN  # the filter's chain: RETURN for each peer, then DROP; INPUT jumps to it for the VXLAN port
filter_off() {  # every INPUT jump to the filter, then the chain
  iptables -w -S INPUT | grep -e " -j $f\$" | sed 's/^-A //' | while read -r rule; do
    # shellcheck disable=SC2086  # the rule's own words, as iptables -S printed them
    iptables -w -D $rule
  done
  if iptables -w -S "$f" >/dev/null 2>&1; then iptables -w -F "$f" && iptables -w -X "$f"; fi
}
ip link show dev "$br" >/dev/null 2>&1 || ip link add "$br" mtu "$mtu" type bridge
ip link set "$br" up
# never both joins on one bridge: that would loop frames between the hosts
if [ "$join" != vxlan ] && ip link show dev "$vx" >/dev/null 2>&1; then ip link del "$vx"; fi
if [ "$join" != uplink ] && [ -n "$uplink" ] &&
   ip -o link show dev "$uplink" 2>/dev/null | grep -qF " master $br "; then
  ip link set "$uplink" nomaster
fi
if [ "$join" = vxlan ]; then
  ip link show dev "$vx" >/dev/null 2>&1 ||
    ip link add "$vx" mtu "$mtu" type vxlan id "$vni" local "$local" dstport "$port"
  ip link set "$vx" master "$br" up
  # the peers flooded to now, on one line: A B C
  current=$(bridge fdb show dev "$vx" |
    awk '$1 == "00:00:00:00:00:00" && $2 == "dst" {printf "%s%s", sep, $3; sep = " "}')
  for peer in "$@"; do
    case " $current " in *" $peer "*) ;; *) bridge fdb append 00:00:00:00:00:00 dev "$vx" dst "$peer" ;; esac
  done
  for old in $current; do
    case " $* " in *" $old "*) ;; *) bridge fdb del 00:00:00:00:00:00 dev "$vx" dst "$old" ;; esac
  done
  # the device takes frames from anyone who reaches this host's underlay address: only the peers may send them
  filter_off
  iptables -w -N "$f"
  for peer in "$@"; do iptables -w -A "$f" -s "$peer" -j RETURN; done
  iptables -w -A "$f" -j DROP
  iptables -w -I INPUT 1 -p udp --dport "$port" -j "$f"
else
  filter_off
fi
if [ "$join" = uplink ]; then
  ip link set "$uplink" master "$br" up
fi
if iptables -w -S DOCKER-USER >/dev/null 2>&1; then chain=DOCKER-USER; else chain=FORWARD; fi
iptables -w -C "$chain" -i "$br" -o "$br" -j ACCEPT 2>/dev/null || iptables -w -I "$chain" 1 -i "$br" -o "$br" -j ACCEPT
