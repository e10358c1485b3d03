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
# Python byte-code is compiled once, after the install, not by each package's postinst: py3compile (diverted
# for the install) only notes what it was asked, and compile_python then compiles those files in one go, on every
# core. Called once per package, py3compile spent most of the openstack image's build starting itself (165 s
# against 24 s for the same 20000 files); the .pyc files are the same.
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

asked=/tmp/dockstack-py3compile-asked
defer_py3compile() {
  dpkg-divert --quiet --local --rename --divert /usr/bin/py3compile.dockstack --add /usr/bin/py3compile
  printf '%s\n' '#!/bin/sh' '# dockstack image build: compiled after the install (apt.sh compile_python)' \
    "printf '%s\\n' \"\$*\" >> $asked" > /usr/bin/py3compile
  chmod 755 /usr/bin/py3compile
}

restore_py3compile() {
  rm -f /usr/bin/py3compile
  dpkg-divert --quiet --local --rename --divert /usr/bin/py3compile.dockstack --remove /usr/bin/py3compile
}

# What py3compile was asked (`-p PACKAGE [DIR...]`): each package's files in Python's public folders, and every
# .py file under the folders named, compiled as py3compile does (timestamp-checked .pyc next to the source).
# A failing `dpkg -L` fails the build.
compile_python() {
  [ -s "$asked" ] || return 0
  local -a packages=() folders=() words
  local word previous
  while read -r -a words; do  # one call per line: -p PACKAGE, options, folders
    previous=
    for word in "${words[@]}"; do
      if [ "$previous" = -p ]; then packages+=("$word"); elif [[ $word == /* ]]; then folders+=("$word"); fi
      previous=$word
    done
  done < "$asked"
  rm -f "$asked"
  local listed  # read whole first: a failing dpkg -L fails the build (grep's `|| true` is for finding no file)
  if [ ${#packages[@]} -gt 0 ]; then
    listed=$(dpkg -L "${packages[@]}") || { echo "E: dpkg -L ${packages[*]} failed" >&2; return 1; }
  fi
  {
    grep -E '^/usr/lib/python3(\.[0-9]+)?/dist-packages/.*\.py$' <<< "${listed:-}" || true
    [ ${#folders[@]} -eq 0 ] || find "${folders[@]}" -name '*.py' -type f
  } | sort -u | while IFS= read -r file; do if [ -f "$file" ]; then printf '%s\0' "$file"; fi; done \
    | xargs -0 -r -P "$(nproc)" -n 2000 python3 -m compileall -q --invalidation-mode timestamp
  echo "I: Setting up python byte-code: ${#packages[@]} packages compiled"
}

defer_py3compile
apt-get install -y -q --no-install-recommends -o Debug::NoLocking=true -o Dpkg::Options::=--force-unsafe-io "$@" \
  | sed -n 's/^\(Unpacking\|Setting up\) /I: &/p'
restore_py3compile
compile_python
