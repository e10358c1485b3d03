#!/bin/sh
# Files' exact contents, in one round trip.
# Called as: sh -c "$READ_FILES_SCRIPT" sh PATH... (remote.Remote.get_texts)
# Prints one line per file: PATH<TAB>base64 of its content, or PATH<TAB>- when it does not exist; exits 1 when a
# file that exists cannot be read, or is no regular file of its own (a symlink, a FIFO, a device: never followed,
# never waited on).
for f; do
  if [ -L "$f" ] || { [ -e "$f" ] && [ ! -f "$f" ]; }; then
    echo "$f is not a regular file: not read" >&2; exit 1
  elif [ -e "$f" ]; then
    printf "%s\t" "$f"
    base64 -w0 < "$f" || exit 1
    echo
  else
    printf "%s\t-\n" "$f"
  fi
done
