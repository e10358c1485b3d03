"""The guest disk image boots for real under QEMU (TCG, 1 vCPU, 256 MiB, as nova runs it on these machines), in a
scratch network namespace of this machine that stands in for neutron: dnsmasq gives the guest its address, the MTU
(option 26) and the metadata route (option 121, 169.254.169.254/32 via the DHCP server's address, as neutron's DHCP
agent does on a network without a router) and a tiny HTTP server answers the metadata service's instance id there.
The guest's console must carry the marker with that id and the address dnsmasq gave, and the guest must answer
ping. No lab: root (namespaces, a tap device) and qemu-system-x86 and dnsmasq; the guest image is built first (or
taken from the images cache, DOCKSTACK_CACHE or /var/cache/dockstack). About 10 s with the cache warm."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockstack import guestimage
from dockstack.config import Stack

pytestmark = pytest.mark.root

PROGRAMS = {"qemu-system-x86_64": "qemu-system-x86", "dnsmasq": "dnsmasq-base", "ip": "iproute2",
            "busybox": "busybox"}
TAP = "dsxtap0"
SERVER = "192.0.2.2"  # the DHCP server's address, and the metadata route's gateway (neutron's DHCP port)
ROUTER = "192.0.2.1"  # option 3 and 121's default route: no one has it, so the metadata must come by the /32 route
GUEST_IP, GUEST_MAC, PREFIX, MTU = "192.0.2.23", "52:54:00:64:73:67", 24, 1400
MARKER_BOUND = 90.0  # seconds from QEMU's start to the marker (about 5 s on an idle 2-core machine)


def _needed() -> None:
    missing = sorted({pkg for prog, pkg in PROGRAMS.items() if shutil.which(prog) is None})
    if missing:
        pytest.skip(f"booting the guest image needs {', '.join(missing)} (bash scripts/setup.sh --tests)")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def scratch_network(tmp_path: Path, instance_id: str) -> Iterator[str]:
    """A namespace dsx-guest-PID with a tap device for QEMU, dnsmasq serving DHCP on it and an HTTP server on
    169.254.169.254:80 answering /latest/meta-data/instance-id; all of it gone after, whatever happened."""
    ns = f"dsx-guest-{os.getpid()}"
    procs: list[subprocess.Popen] = []
    metadata = tmp_path / "metadata" / "latest" / "meta-data"
    metadata.mkdir(parents=True)
    (metadata / "instance-id").write_text(instance_id)
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        for argv in (["ip", "link", "set", "lo", "up"], ["ip", "tuntap", "add", "dev", TAP, "mode", "tap"],
                     ["ip", "addr", "add", f"{SERVER}/{PREFIX}", "dev", TAP], ["ip", "link", "set", TAP, "up"],
                     ["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"]):
            subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, capture_output=True)
        log = open(tmp_path / "services.log", "w")  # noqa: SIM115 (open while they run)
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
             f"--interface={TAP}", "--bind-interfaces", f"--dhcp-range={SERVER},static,255.255.255.0,1h",
             f"--dhcp-host={GUEST_MAC},{GUEST_IP}", f"--dhcp-option=option:router,{ROUTER}",
             f"--dhcp-option=option:classless-static-route,169.254.169.254/32,{SERVER},0.0.0.0/0,{ROUTER}",
             f"--dhcp-option=option:mtu,{MTU}", f"--dhcp-leasefile={tmp_path / 'leases'}",
             f"--pid-file={tmp_path / 'dnsmasq.pid'}", "--log-dhcp", "--log-facility=-"],
            stdout=log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", "80", "--bind", "169.254.169.254",
             "--directory", str(tmp_path / "metadata")], stdout=log, stderr=subprocess.STDOUT))
        yield ns
    finally:
        for proc in procs:
            _stop(proc)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_the_guest_boots_takes_its_address_and_instance_id_and_answers_ping(shipped_stack: Stack, tmp_path):
    _needed()
    disk = guestimage.build(guestimage.guest_images(shipped_stack)[0])
    instance_id = f"i-{uuid.uuid4().hex[:8]}"
    console = tmp_path / "console.log"
    with scratch_network(tmp_path, instance_id) as ns:
        started = time.monotonic()
        qemu = subprocess.Popen(
            ["ip", "netns", "exec", ns, "qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-smp", "1",
             "-nographic", "-monitor", "none", "-serial", f"file:{console}",
             # snapshot: the guest writes nothing into the cached disk
             "-drive", f"file={disk.path},if=virtio,format={disk.disk_format},snapshot=on",
             "-netdev", f"tap,id=net0,ifname={TAP},script=no,downscript=no",
             "-device", f"virtio-net-pci,netdev=net0,mac={GUEST_MAC}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            marker = None
            while marker is None and time.monotonic() - started < MARKER_BOUND and qemu.poll() is None:
                time.sleep(0.1)
                marker = guestimage.parse_marker(console.read_text(errors="replace")) if console.exists() else None
            took = time.monotonic() - started
            said = console.read_text(errors="replace")[-3000:] if console.exists() else "(no console output)"
            assert marker is not None, f"no marker line after {took:.1f} s; the console's end:\n{said}"
            assert not marker.failed, f"the guest says {marker.failed} failed: {marker.detail}"
            assert (marker.instance_id, marker.address, marker.mtu) == (instance_id, f"{GUEST_IP}/{PREFIX}", MTU)
            ping = subprocess.run(["ip", "netns", "exec", ns, "busybox", "ping", "-c", "3", "-W", "5", GUEST_IP],
                                  capture_output=True, text=True, timeout=30)
            assert ping.returncode == 0, ping.stdout + ping.stderr
            print(f"guest {disk.tag} ({disk.size // 2**20} MiB, kernel {disk.kernel}): marker after {took:.1f} s "
                  f"from QEMU's start; {ping.stdout.strip().splitlines()[-1]}")
        finally:
            _stop(qemu)
