"""Checks for what local actions need (root, programs), with the fix spelled out."""

from __future__ import annotations

import os
import shutil

from dockstack.errors import PrerequisiteError

# program -> Debian package that provides it
LAB_PROGRAMS = {
    "dockerd": "docker.io", "docker": "docker.io", "sshd": "openssh-server", "ssh": "openssh-client",
    "ssh-keygen": "openssh-client", "ip": "iproute2", "bridge": "iproute2", "iptables": "iptables",
    "nsenter": "util-linux", "unshare": "util-linux",
}
# what the action script runs on a Docker host besides docker (action.sh: eth0's plumbing, a lease by the host's own
# DHCP client). The lab's hosts are namespaces of this machine and run its programs, so lab.up checks them here; a
# real host without udhcpc is named by the action itself (`failed dhcp`, with the package to install).
HOST_PROGRAMS = {"nsenter": "util-linux", "ip": "iproute2", "udhcpc": "udhcpc"}
IMAGE_PROGRAMS = {"debootstrap": "debootstrap", "tar": "tar"}
# what a guest disk image's build runs besides (guestimage.py): packages unpacked, modules.dep made, a FAT disk
# made bootable, all on files (no loop mount)
GUEST_PROGRAMS = {"dpkg-deb": "dpkg", "depmod": "kmod", "mkfs.vfat": "dosfstools", "mcopy": "mtools",
                  "syslinux": "syslinux"}

SBIN = ("/usr/sbin", "/sbin")


def which(program: str) -> str | None:
    return shutil.which(program) or next(
        (f"{d}/{program}" for d in SBIN if os.access(f"{d}/{program}", os.X_OK)), None)


def require(programs: dict[str, str], why: str) -> None:
    """Fail with one message naming every missing program and the apt-get line that fixes it."""
    if os.geteuid() != 0:
        raise PrerequisiteError(f"{why} needs root: run it as root (e.g. sudo -i, then the same command)")
    missing = {p: pkg for p, pkg in programs.items() if which(p) is None}
    if missing:
        pkgs = " ".join(sorted(set(missing.values())))
        raise PrerequisiteError(
            f"{why} needs {', '.join(sorted(missing))}, which {'is' if len(missing) == 1 else 'are'} not installed: "
            f"run `apt-get install -y {pkgs}` (or `bash scripts/setup.sh`)")
