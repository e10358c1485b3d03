#!/bin/bash
# Inside a new image root (chroot): the placeholder packages, then the image's packages with apt-get, which
# resolves dependencies as apt does.
# Called as: chroot ROOT bash -c "$APT_SCRIPT" bash PLACEHOLDER_DIR PACKAGE... (images._apt_install; the folder
# holds the placeholder packages, *.deb, when the image has any)
# Prints dpkg's and apt-get's progress as debootstrap-like `I: ...` lines (only Unpacking and Setting up lines of
# the install); exits non-zero when dpkg or apt-get fails (pipefail).
set -eo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
shopt -s nullglob
placeholders=("$1"/*.deb)
shift
if [ ${#placeholders[@]} -gt 0 ]; then
  dpkg -i "${placeholders[@]}" | sed 's/^/I: /'
fi
apt-get update -q | sed 's/^/I: /'
apt-get install -y -q --no-install-recommends "$@" | sed -n 's/^\(Unpacking\|Setting up\) /I: &/p'
