#!/bin/sh
# udhcpc's script (`udhcpc -s HOOK`): applies the lease dnsmasq handed a container's eth0, with the host's `ip`.
# action.sh runs the HOST's udhcpc in the container's network namespace only (`nsenter -t PID -n`: the host's
# files and programs, the container's interfaces), so this runs as root on the host. It runs nothing of the
# container's, writes no file (the container's resolv.conf is docker's, from --dns), and applies only what passes
# its checks: every value udhcpc hands it comes from a DHCP packet, which anyone on the segment can send.
# Called as (by udhcpc): HOOK EVENT (deconfig, bound, renew, leasefail, nak), with udhcpc's environment (interface,
# ip, mask: the prefix length, router: a list) and what action.sh started udhcpc with (`env -i`: the host root's
# PATH and three expectations):
#   DOCKSTACK_NETNS   the container's network namespace as `readlink /proc/PID/ns/net` names it: the hook acts in
#                     no other (the host's included)
#   DOCKSTACK_SUBNET  NETWORK/PREFIX: the lease must be an address of it, with its prefix
#   DOCKSTACK_GATEWAY the stack's gateway, the one router a lease may name (empty: none, and no default route)
# The address is applied with `valid_lft forever`: udhcpc exits once bound (-q) and nothing renews the lease, as
# nothing needs to: the address book pins the container's MAC to this IP in every dnsmasq (dhcp-hosts.d), so when
# dnsmasq's lease runs out the address is still never handed to another, and the container's next start asks again
# and gets it back (docs/addressing.md, "Leases and renewals").
# Prints `dhcp hook: ...` on standard error and exits 1 when it refuses; prints nothing otherwise.
set -u
refuse() { echo "dhcp hook: $*" >&2; exit 1; }

quad() {  # prints the dotted IPv4 address $1 as a number; fails unless it is four parts 0-255 without leading 0
  case $1 in '' | *[!0-9.]* | .* | *. | *..*) return 1 ;; esac
  old=$IFS
  IFS=.
  # shellcheck disable=SC2086  # split on the dots on purpose: $1 holds only digits and dots (checked above)
  set -- $1
  IFS=$old
  [ $# -eq 4 ] || return 1
  n=0
  for part in "$@"; do
    case $part in 0 | [1-9] | [1-9][0-9] | 1[0-9][0-9] | 2[0-4][0-9] | 25[0-5]) ;; *) return 1 ;; esac
    n=$((n * 256 + part))
  done
  echo "$n"
}

event=${1:-}
want=${DOCKSTACK_NETNS:-}
if [ -z "$want" ] || [ "$(readlink /proc/self/ns/net)" != "$want" ]; then
  refuse "not in the container's network namespace ($want): nothing applied"
fi
if [ "${interface:-}" != eth0 ]; then refuse "interface '${interface:-}' is not eth0: nothing applied"; fi

case $event in
  deconfig)  # udhcpc starts: eth0 holds no address it did not get from this lease
    ip -4 addr flush dev eth0 ;;
  bound | renew)
    subnet=${DOCKSTACK_SUBNET:-}
    net=${subnet%/*} prefix=${subnet#*/}
    case $prefix in
      [1-9] | [12][0-9] | 30) ;;
      *) refuse "DOCKSTACK_SUBNET '$subnet' is no NETWORK/PREFIX (prefix 1-30)" ;;
    esac
    net_n=$(quad "$net") || refuse "DOCKSTACK_SUBNET '$subnet' is no NETWORK/PREFIX"
    ip_n=$(quad "${ip:-}") || refuse "the lease's address '${ip:-}' is no IPv4 address"
    if [ "${mask:-}" != "$prefix" ]; then refuse "the lease's prefix '${mask:-}' is not the subnet's ($subnet)"; fi
    size=$((1 << (32 - prefix)))
    if [ $((ip_n / size)) -ne $((net_n / size)) ]; then refuse "the lease's address $ip is not in $subnet"; fi
    case $((ip_n % size)) in
      0 | $((size - 1))) refuse "the lease's address $ip is $subnet's network or broadcast address" ;;
    esac
    router=${router:-}
    router=${router%% *}  # udhcpc lists every router the lease names: the first is the one dhclient would take
    gateway=${DOCKSTACK_GATEWAY:-}
    if [ "$router" != "$gateway" ]; then
      refuse "the lease's router '$router' is not the stack's gateway '$gateway'"
    fi
    if [ -n "$gateway" ]; then
      gw_n=$(quad "$gateway") || refuse "DOCKSTACK_GATEWAY '$gateway' is no IPv4 address"
      if [ $((gw_n / size)) -ne $((net_n / size)) ]; then refuse "the gateway $gateway is not in $subnet"; fi
    fi
    ip -4 addr flush dev eth0 || exit 1
    ip addr add "$ip/$prefix" broadcast + dev eth0 valid_lft forever preferred_lft forever || exit 1
    if [ -n "$gateway" ]; then ip route replace default via "$gateway" dev eth0 || exit 1; fi ;;
  *) ;;  # leasefail, nak: udhcpc tries again or gives up; nothing to apply
esac
exit 0
