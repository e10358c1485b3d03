#!/bin/sh
# Writes files in one round trip: a tar of PATH.dockstack-tmp files (remote.TMP_SUFFIX), each then renamed onto
# PATH, so a reader never sees half a file. Only for folders no container can write (tar follows a symlink on its
# way): a service container's files go through service_files.sh.
# Called as: sh -c "$PUT_FILES_SCRIPT" sh PATH... (remote.Remote.put_texts), the tar on standard input.
# Prints nothing; exits non-zero (tar's or mv's complaint on standard error) when a file could not be written.
tar -x --no-same-owner -f - -C / || exit
for f; do mv -f "$f.dockstack-tmp" "$f" || exit; done
