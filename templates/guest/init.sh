#!/bin/sh
# dockstack's guest image: the initramfs's /init (PID 1, run by busybox sh; guestimage.py puts it there as it is).
# Mounts proc, sys and dev, loads the kernel modules listed in /etc/dockstack/modules (virtio_pci, virtio_net and
# what they need, in load order), takes eth0's address by DHCP (udhcpc and its script /etc/dockstack/udhcpc.sh:
# the address, option 121's classless static routes or option 3's router, option 26's MTU), reads the instance id
# from the metadata service, and prints ONE marker line on the console (ttyS0: nova's console log):
#   dockstack-guest: instance-id=ID address=IP/PREFIX mtu=MTU
# or a line saying what failed:
#   dockstack-guest: FAILED dhcp: ...   /   dockstack-guest: FAILED metadata: ...
# Then it stays up, idle: PID 1 becomes `sleep infinity` (the kernel answers ping; udhcpc, in the background, renews
# the lease). No shell or login is offered on the console, and no shell keeps running.
PATH=/bin
export PATH
MARK=dockstack-guest
# the port given: without one, busybox-static's wget looks `http` up in the services database through glibc's
# NSS, which a static binary cannot load (it segfaults)
METADATA=http://169.254.169.254:80/latest/meta-data/instance-id
DHCP_TRIES=20        # DHCPDISCOVERs, one a second (neutron's DHCP agent may still be writing the port's host entry)
METADATA_WAIT=90     # seconds of asking, a second between tries (nova's metadata server may still be starting)

/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

while read -r module; do
  insmod "/lib/modules/$module.ko" || echo "$MARK: module $module did not load"
done < /etc/dockstack/modules

# PID 1 becomes busybox's sleep for good: no shell stays (the kernel answers ping; the background udhcpc renews)
idle() {
  exec sleep infinity
}

n=0
while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 50 ]; do  # the virtio device probes as its module loads
  sleep 0.1
  n=$((n + 1))
done
if [ ! -e /sys/class/net/eth0 ]; then
  echo "$MARK: FAILED dhcp: no eth0 (no virtio network device, or its driver did not load)"
  idle
fi
ip link set lo up
ip link set eth0 up
# foreground until the first lease (or -n: give up), then udhcpc goes to the background and renews it
if ! udhcpc -i eth0 -s /etc/dockstack/udhcpc.sh -n -t "$DHCP_TRIES" -T 1 -A 1 -O staticroutes -O mtu >/dev/null 2>&1
then
  echo "$MARK: FAILED dhcp: no lease on eth0 after $DHCP_TRIES DHCPDISCOVERs"
  idle
fi
address=$(ip -o -4 addr show dev eth0 | awk '{ print $4; exit }')
mtu=$(cat /sys/class/net/eth0/mtu)

seconds_up() {
  read -r up _ < /proc/uptime
  echo "${up%.*}"
}

started=$(seconds_up)
n=0
id=
while [ $(($(seconds_up) - started)) -lt $METADATA_WAIT ]; do
  n=$((n + 1))
  # each GET bounded by timeout (5 s), not wget's -T, with which busybox-static's wget 1.35 segfaults; the
  # subshell's stderr too, where a GET that timeout ended is reported
  id=$( (timeout 5 wget -q -O - "$METADATA" | head -n 1) 2>/dev/null)
  case $id in
    '' | *[!A-Za-z0-9._-]*) id= ;;  # nothing yet, or not an id
    *) break ;;
  esac
  sleep 1
done
if [ -n "$id" ]; then
  echo "$MARK: instance-id=$id address=$address mtu=$mtu"
else
  echo "$MARK: FAILED metadata: no instance-id from $METADATA in $(($(seconds_up) - started)) s, $n tries" \
    "(address=$address mtu=$mtu)"
fi
idle
