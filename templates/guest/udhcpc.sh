#!/bin/sh
# dockstack's guest image: udhcpc's script (/etc/dockstack/udhcpc.sh), called by busybox udhcpc as
# `udhcpc.sh EVENT` with the lease in its environment: $interface, $ip, $mask (the prefix length), $broadcast,
# $router, $staticroutes (option 121, RFC 3442: `DEST/PREFIX GATEWAY` pairs; the metadata route neutron's DHCP agent
# gives, 169.254.169.254/32 via its port or the router) and $mtu (option 26).
# As RFC 3442 says, a lease with classless static routes takes its default route from them, not from option 3.
# A gateway 0.0.0.0 is on the link (no next hop). Each value reaches `ip` as one argument, never a shell's text.
# shellcheck disable=SC2154  # $interface, $ip, $mtu ... are udhcpc's
case $1 in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up
    ;;
  bound | renew)
    case $mtu in
      '' | *[!0-9]*) ;;
      *) if [ "$mtu" -ge 576 ] && [ "$mtu" -le 65535 ]; then ip link set dev "$interface" mtu "$mtu"; fi ;;
    esac
    if [ "$1" = bound ]; then ip -4 addr flush dev "$interface"; fi
    ip addr replace "$ip/${mask:-32}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    if [ -n "$staticroutes" ]; then
      # shellcheck disable=SC2086  # the pairs are split into words on purpose
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        if [ "$2" = 0.0.0.0 ]; then
          ip route replace "$1" dev "$interface"
        else
          ip route replace "$1" via "$2" dev "$interface"
        fi
        shift 2
      done
    elif [ -n "$router" ]; then
      # shellcheck disable=SC2086  # the first router of the list
      set -- $router
      ip route replace default via "$1" dev "$interface"
    fi
    ;;
esac
exit 0
