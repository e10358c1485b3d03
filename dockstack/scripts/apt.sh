#!/bin/bash
# Inside a new image root (chroot): the placeholder packages, then the image's packages with apt-get, which
# resolves dependencies as apt does.
# Called as: chroot ROOT bash -c "$APT_SCRIPT" bash PACKAGE... (images._apt_install)
# Prints dpkg's and apt-get's progress as debootstrap-like `I: ...` lines (only Unpacking and Setting up lines of
# the install); exits non-zero when dpkg or apt-get fails (pipefail).
set -eo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
dpkg -i /tmp/dockstack-placeholders/*.deb | sed 's/^/I: /'
apt-get update -q | sed 's/^/I: /'
apt-get install -y -q --no-install-recommends "$@" | sed -n 's/^\(Unpacking\|Setting up\) /I: &/p'
