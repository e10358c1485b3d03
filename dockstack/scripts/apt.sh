#!/bin/bash
# Inside a new image root (chroot): the placeholder packages, then the image's packages with apt-get, which
# resolves dependencies as apt does.
# Called as: chroot ROOT bash -c "$APT_SCRIPT" bash PLACEHOLDER_DIR DOWNLOAD_LOCK PACKAGE... (images._apt_install;
# the folder holds the placeholder packages, *.deb, when the image has any; DOWNLOAD_LOCK is a file in apt's
# package folder, which every build on the machine shares)
# The packages are downloaded while holding DOWNLOAD_LOCK (apt locks the folder it downloads to, and another build's
# apt would give up at once), then installed without apt's lock, so a build that installs lets another download.
# Prints dpkg's and apt-get's progress as debootstrap-like `I: ...` lines (the downloads' Get lines, only Unpacking
# and Setting up lines of the install); exits non-zero when dpkg or apt-get fails (pipefail).
# dpkg does not fsync each file it writes (--force-unsafe-io, as Docker's own Debian images build): a build that
# fails is thrown away whole, and the finished tree is read into its layer in full, so nothing is lost, and an
# install of hundreds of packages does not wait on the disk for every file.
set -eo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
shopt -s nullglob
placeholders=("$1"/*.deb)
download_lock=$2
shift 2
if [ ${#placeholders[@]} -gt 0 ]; then
  dpkg --force-unsafe-io -i "${placeholders[@]}" | sed 's/^/I: /'
fi
apt-get update -q | sed 's/^/I: /'
flock "$download_lock" apt-get install -y -q --no-install-recommends --download-only "$@" \
  | sed -n 's/^Get:[0-9]* /I: &/p'
apt-get install -y -q --no-install-recommends -o Debug::NoLocking=true -o Dpkg::Options::=--force-unsafe-io "$@" \
  | sed -n 's/^\(Unpacking\|Setting up\) /I: &/p'
