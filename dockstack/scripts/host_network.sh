#!/bin/sh
# The host's container network, idempotent: the bridge, the VXLAN device with one flood entry per peer (stale
# peers removed) and a filter that takes VXLAN from the peers only, or an uplink, and the ACCEPT rule that keeps
# Docker's FORWARD DROP off the bridge.
# Called as (network.host_network_command; JOIN: vxlan, uplink or none; UPLINK may be empty; the peers in address
# order, the filter's):
#   sh -c "$HOST_NETWORK_SCRIPT" sh BRIDGE MTU JOIN VXLAN_DEVICE VNI PORT LOCAL_ADDRESS UPLINK [PEER...]
# Prints nothing of its own; stops with the exit code of the first command that fails (set -e).
set -e
br=$1 mtu=$2 join=$3 vx=$4 vni=$5 port=$6 local=$7 uplink=$8
shift 8
f=DOCKSTACK-VXLAN  # the filter's chain: RETURN for each peer, then DROP; INPUT jumps to it for the VXLAN port
# the values that become lines of iptables-restore's input, checked here too: nothing but what their kind allows
case $br in '' | *[!A-Za-z0-9_.-]*) echo "host_network.sh: bridge name $br refused" >&2; exit 2 ;; esac
case $port in '' | *[!0-9]*) echo "host_network.sh: VXLAN port $port refused" >&2; exit 2 ;; esac
if [ "$join" = vxlan ]; then
  for peer in "$@"; do
    case $peer in '' | *[!0-9.]*) echo "host_network.sh: peer $peer is no IPv4 address" >&2; exit 2 ;; esac
  done
fi
rules() {  # CHAIN: its rules as iptables -S prints them; nothing when it is not there
  iptables -w -S "$1" 2>/dev/null | grep -e '^-A ' || true
}
firewall() {  # [PEER...]: every rule dockstack owns (firewall.py), as iptables-restore --noflush input
  if iptables -w -S DOCKER-USER >/dev/null 2>&1; then chain=DOCKER-USER; else chain=FORWARD; fi
  accept="-i $br -o $br -j ACCEPT"
  echo '*filter'
  if [ "$join" = vxlan ]; then
    echo ":$f - [0:0]"  # made, or emptied when it is there (--noflush keeps every other chain as it is)
    for peer in "$@"; do echo "-A $f -s $peer/32 -j RETURN"; done
    echo "-A $f -j DROP"
  fi
  rules INPUT | grep -e " -[jg] $f\$" | sed 's/^-A /-D /' || true  # every jump to it, where it is
  for c in DOCKER-USER FORWARD; do rules "$c" | grep -xF -e "-A $c $accept" | sed 's/^-A /-D /' || true; done
  if [ "$join" = vxlan ]; then
    echo "-I INPUT 1 -p udp -m udp --dport $port -j $f"  # first: no rule ahead of it lets VXLAN skip it
  elif iptables -w -S "$f" >/dev/null 2>&1; then
    echo "-F $f"
    echo "-X $f"
  fi
  echo "-I $chain 1 $accept"
  echo COMMIT
}
ip link show dev "$br" >/dev/null 2>&1 || ip link add "$br" mtu "$mtu" type bridge
ip link set "$br" up
# never both joins on one bridge: that would loop frames between the hosts
if [ "$join" != vxlan ] && ip link show dev "$vx" >/dev/null 2>&1; then ip link del "$vx"; fi
if [ "$join" != uplink ] && [ -n "$uplink" ] &&
   ip -o link show dev "$uplink" 2>/dev/null | grep -qF " master $br "; then
  ip link set "$uplink" nomaster
fi
# the rules, all in one transaction: the filter is never gone nor open while they change, and it is there before
# the VXLAN device that needs it (the device takes frames from anyone who reaches this host's underlay address)
rules=$(firewall "$@")
printf '%s\n' "$rules" | iptables-restore -w --noflush
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
fi
if [ "$join" = uplink ]; then
  ip link set "$uplink" master "$br" up
fi
