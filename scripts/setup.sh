#!/usr/bin/env bash
# Installs what dockstack and its lab need on a Debian machine (as root): Debian packages and a virtualenv.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/setup.sh: run as root (the lab needs namespaces, bridges and its own dockerd/sshd)" >&2
  exit 1
fi

# udhcpc: the lab's hosts run this machine's programs, and dockstack leases a container's address with the host's
# DHCP client (in the container's network namespace), never the container's own
# kmod, dosfstools, mtools, syslinux: the guest disk image's build (depmod for its kernel's modules, a FAT disk made
# bootable without a loop mount)
packages=(docker.io openssh-server openssh-client iptables iproute2 debootstrap util-linux python3-venv python3-pip tar gzip procps sudo
          shellcheck udhcpc kmod dosfstools mtools syslinux)
# --tests: what the test suite needs besides: a real headless browser for Horizon's e2e test (chromium, its driver,
# and certutil to trust the stack's CA in the browser's own certificate store); QEMU and dnsmasq to boot the guest
# image on this machine (tests/unit/test_guest_boot.py: a DHCP server and the metadata service in a namespace)
if [ "${1:-}" = --tests ]; then
  packages+=(chromium chromium-driver libnss3-tools qemu-system-x86 dnsmasq-base)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv
fi
if ! .venv/bin/python -c 'import fabric, invoke, paramiko, yaml, jinja2, pytest' 2>/dev/null \
   || ! cmp -s requirements.txt .venv/.requirements.installed; then
  echo "setup: installing Python packages"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt .venv/.requirements.installed
fi
# byte-compiled once here: every `inv` loads tasks.py and dockstack/, and where PYTHONDONTWRITEBYTECODE is set
# Python would compile them again on each run (stale files are still checked against the sources' mtime)
.venv/bin/python -m compileall -q tasks.py dockstack >/dev/null
echo "setup: ready (.venv/bin/inv)"
