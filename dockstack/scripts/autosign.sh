#!/bin/sh
# The Puppet server's autosign policy, inside the puppet container (puppet.conf's `autosign` is a wrapper that
# puppetserver.sh writes): a certificate request is signed only when its certname is on the stack's list
# (autosign.conf beside this script, one exact name a line) and it carries that name's own challengePassword:
# HMAC-SHA256 of the certname under the stack's secret, in hex, which dockstack derives the same way
# (services/puppet.py's challenge) and hands that name's agent alone. An agent never sees the secret, so the
# challenge it holds gets no other name signed. Anything else waits for an operator (`puppetserver ca sign`).
# Called as (by the server, through the wrapper): sh autosign.sh CERTNAME SECRET_FILE, the request (PEM) on
#   standard input; SECRET_FILE holds the stack's secret (the container's secret file, root's only: never in an
#   environment or on a command line).
# Prints nothing on standard output. Exit 0 signs; otherwise it says on standard error why not (the server logs
# it).
certname=$1 secret_file=$2
names=$(dirname "$0")/autosign.conf
case $certname in  # a DNS name (never a comment line of the list)
  '' | *[!a-z0-9.-]*) echo "dockstack autosign: $certname is no DNS name" >&2; exit 1 ;;
esac
if ! grep -qxF -e "$certname" "$names"; then
  echo "dockstack autosign: $certname is not on the stack's list ($names)" >&2; exit 1
fi
secret=$(cat "$secret_file" 2>/dev/null)
case $secret in  # letters and digits, at most one SHA-256 block (64 bytes): the key as HMAC takes it, unhashed
  '' | *[!A-Za-z0-9]*) echo "dockstack autosign: no challenge secret in $secret_file" >&2; exit 1 ;;
esac
if [ "${#secret}" -gt 64 ]; then echo "dockstack autosign: the secret in $secret_file is over 64 bytes" >&2; exit 1; fi
# The key XOR a pad byte, zero-padded to SHA-256's 64-byte block, as printf %b's octal escapes (RFC 2104's ipad
# and opad). Built by the shell itself: `openssl dgst -hmac KEY` would show the secret in the host's process list.
pad() {
  out='' n=0
  for b in $(printf '%s' "$secret" | od -An -v -tu1); do
    v=$((b ^ $1)) n=$((n + 1))
    out="$out\\0$((v / 64))$((v / 8 % 8))$((v % 8))"
  done
  v=$1
  while [ "$n" -lt 64 ]; do out="$out\\0$((v / 64))$((v / 8 % 8))$((v % 8))" n=$((n + 1)); done
  printf '%s' "$out"
}
ipad=$(pad 54) opad=$(pad 92)
# HMAC = H(key^opad || H(key^ipad || certname)); `-r` prints `HEX *stdin`
sum=$({ printf '%b' "$opad"
        { printf '%b' "$ipad"; printf '%s' "$certname"; } | openssl dgst -sha256 -binary; } | openssl dgst -sha256 -r)
want=${sum%% *}
case $want in
  *[!0-9a-f]* | '') echo "dockstack autosign: openssl gave no SHA-256 digest for $certname" >&2; exit 1 ;;
esac
if [ "${#want}" -ne 64 ]; then echo "dockstack autosign: openssl gave no SHA-256 digest for $certname" >&2; exit 1; fi
given=$(openssl req -noout -text 2>/dev/null | sed -n 's/^ *challengePassword *: *//p' | head -n 1)
if [ "$given" != "$want" ]; then
  echo "dockstack autosign: the request for $certname does not carry that name's own challengePassword" >&2; exit 1
fi
