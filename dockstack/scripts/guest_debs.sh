#!/bin/bash
# Inside an overlay of a suite's root tree (chroot): a guest image's packages downloaded (not installed) into apt's
# package folder, which every build on the machine shares (bind-mounted), and their file names written to LIST.
# Called as: chroot ROOT bash -c "$GUEST_DEBS_SCRIPT" bash DOWNLOAD_LOCK LIST PACKAGE... (guestimage._download;
# DOWNLOAD_LOCK is a file in apt's package folder, where the packages go, held while downloading, as apt.sh does)
# A kernel metapackage (linux-image-cloud-amd64) brings the kernel package it depends on (linux-image-VERSION-...):
# each linux-image-* package's linux-image-* dependencies are downloaded too; nothing else of theirs (the guest
# takes the kernel's files, not its maintainer scripts' tools). A package already in the folder is not fetched again.
# Prints apt-get's progress as debootstrap-like `I: ...` lines; LIST gets one file name (in the folder) a line.
set -eo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
download_lock=$1
list=$2
shift 2
apt-get update -q | sed 's/^/I: /'
packages=("$@")
for package in "$@"; do
  case $package in
    linux-image-*)
      # (no process substitution: the build root has no /dev/fd)
      deps=$(apt-cache depends --important "$package" | sed -n 's/^ *Depends: \(linux-image-[a-z0-9.+-]*\)$/\1/p')
      for dep in $deps; do packages+=("$dep"); done
      ;;
  esac
done
# 'URI' FILE SIZE HASH per package: the names apt-get download saves them under (asked in an empty folder: it leaves
# out a package whose file is in the current folder already)
empty=$(mktemp -d)
(cd "$empty" && apt-get -q --print-uris download "${packages[@]}") | awk '{ print $2 }' > "$list"
rmdir "$empty"
cd "$(dirname "$download_lock")"  # the package folder
flock "$download_lock" apt-get -q -o APT::Sandbox::User=root download "${packages[@]}" \
  | sed -n 's/^Get:[0-9]* /I: &/p'
