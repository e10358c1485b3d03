"""The config's grammar: the whole-string patterns and limits every value of hosts.yaml and containers.yaml is
checked against, and the pure checks that say what is wrong with a value (None when it is fine).

Every value that reaches a file, a command line or a template is checked here, always with re.fullmatch
(re.match(...$) is not enough: `$` also matches before a trailing newline, which would let
"12h\\ndhcp-script=/bin/sh" through into dnsmasq.conf).
"""

from __future__ import annotations

import ipaddress
import os.path
import re

from dockstack import masking

# Names of containers, roles, hosts and balanced services. A container name is a Docker container name
# ([a-zA-Z0-9][a-zA-Z0-9_.-]*), the container's hostname and DNS name (RFC 1123 label: 1-63 of [a-z0-9-], not
# starting or ending with '-'), a dnsmasq dhcp-host name, a file name on the hosts and the input of the veth-name
# hash; role and host names go into the same kinds of places (hieradata keys, docker labels, haproxy names, lab
# namespace names). So all of them are lowercase RFC 1123 labels, kept at 32 characters (stricter than 63: room
# for NAME.DOMAIN and the lab's PREFIX-NAME interface names).
NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")


# A container name: a NAME_RE of at least 2 characters, as Docker's own rule for names is
# [a-zA-Z0-9][a-zA-Z0-9_.-]+ (daemon/names: one character is refused by `docker run`, exit 125, mid-deploy).
CONTAINER_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,30}[a-z0-9]")


# One label of network.domain: RFC 1123 (1-63 of [a-z0-9-], no '-' at either end), lowercase like the names.
DOMAIN_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


# One label of a host name in hosts[].address: RFC 1123, either case (DNS is case-insensitive).
HOST_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


DNS_NAME_MAX = 253  # RFC 1035: a name is at most 255 octets on the wire, 253 characters written out


MAC_RE = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")  # after lower()


# Linux interface names (dev_valid_name): 1-15 bytes (IFNAMSIZ 16 with the NUL), not "." or "..", no '/', ':' or
# whitespace. This is a subset that also never starts with '-' or '.', so a name is never taken for an option of
# `ip`/`iptables`.
IFNAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")


# hosts[].user: a POSIX user name as shadow-utils' useradd accepts by default (NAME_REGEX without the trailing '$'
# of machine accounts): at most 32 characters, never starting with '-' (it is an ssh argument).
USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


# hosts[].key, known_hosts, lab.state_dir: the POSIX portable filename character set plus '/', not starting with
# '-' (they become arguments of ssh tools, `rm`, sshd_config lines) and written unquoted into the lab's hosts.yaml
# (templates/lab/hosts.yaml.j2), where a space, ':' or '#' would change the YAML. At most PATH_MAX - 1 characters.
PATH_RE = re.compile(r"[A-Za-z0-9._/][A-Za-z0-9._/-]{0,4094}")


# lab.prefix: starts the lab's namespace, veth, bridge (PREFIX-lan), cgroup and mount names; lowercase letters and
# digits only, so PREFIX-NAME splits back at the first '-', and at most 11 so PREFIX-lan fits in 15 characters.
PREFIX_RE = re.compile(r"[a-z0-9]{1,11}")


# network.lease_time as dnsmasq's dhcp-range reads it: a number of seconds with an optional s/m/h/d/w unit, or
# "infinite".
LEASE_RE = re.compile(r"(?P<n>[0-9]{1,10})(?P<unit>[smhdw]?)|infinite")


LEASE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


LEASE_MAX = 2**31 - 1  # dnsmasq keeps the lease time in a signed int of seconds


DHCP_RANGE_RE = re.compile(r"[0-9.]+ *- *[0-9.]+")


# Image references, Docker's grammar (distribution/reference): [DOMAIN[:PORT]/]PATH[:TAG][@DIGEST], PATH lowercase
# components joined by '/', a component alphanumerics joined by '.', '_', '__' or '-'s; a TAG [\w][\w.-]{0,127};
# the whole NAME at most 255 characters. Never starts with '-', so it is never taken for a `docker run` flag.
_DOMAIN_COMPONENT = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"


_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"


_IMAGE_NAME = (rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?/)?"
               rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")


_IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"


_IMAGE_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,128}"


IMAGE_RE = re.compile(rf"(?P<name>{_IMAGE_NAME})(?::{_IMAGE_TAG})?(?:@{_IMAGE_DIGEST})?")  # containers[].image


IMAGE_TAG_RE = re.compile(rf"(?P<name>{_IMAGE_NAME})(?::{_IMAGE_TAG})?")  # images.TAG: dockstack tags what it builds


IMAGE_NAME_MAX = 255


# images.*.suite: a Debian (or derivative) suite or codename as debootstrap and the archive's dists/ name them
# (bookworm, stable, sid, bookworm-backports): lowercase words of letters and digits joined by '-'.
SUITE_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


SUITE_MAX = 64


# images.*.packages: Debian Policy 5.6.1: lowercase letters, digits, '+', '-', '.'; at least two characters,
# starting with a letter or digit.
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")


# roles[].classes: Puppet class names: segments [a-z][a-z0-9_]* joined by '::'.
PUPPET_CLASS_RE = re.compile(r"[a-z][a-z0-9_]*(?:::[a-z][a-z0-9_]*)*")
# roles[].hieradata's keys: a class's parameter as Hiera names it (CLASS::PARAM), or another namespaced key
HIERA_KEY_RE = re.compile(r"[a-z][a-z0-9_]*(?:::[a-z][a-z0-9_]*)+")


# roles[].vip.password: keepalived's VRRP auth_pass, written unquoted into keepalived.conf, where whitespace, '#',
# '!', quotes, '$' (keepalived expands $VARIABLES) and braces would change the file; keepalived uses 8 characters at
# most, and values shorter than masking.MIN_MASKED would not be masked in free text.
VRRP_PASSWORD_RE = re.compile(r"[A-Za-z0-9_.,:+=%@/-]{4,8}")


# containers[].env keys: POSIX shell variable names.
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# An env key whose value is a secret without being listed under `secrets:` (anywhere in the key, any case).
SECRET_KEY_RE = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)


# containers[].volumes: SOURCE:TARGET[:MODE] for `docker run --volume`. SOURCE an absolute path or a Docker volume
# name (Docker's RestrictedNamePattern: [a-zA-Z0-9][a-zA-Z0-9_.-]+), TARGET absolute; no ':' inside a path (Docker
# splits on it); MODE comma-separated options from VOLUME_OPTIONS.
MOUNT_PATH_RE = re.compile(r"/[^:\x00-\x1f\x7f-\x9f]*")


VOLUME_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")


VOLUME_OPTIONS = ("ro", "rw", "z", "Z")


# Free text that is passed as one argument (roles[].check, env values, command elements): one line, so no newline,
# NUL or other control character (a tab is fine); Unicode line and paragraph separators count as newlines.
LINE_RE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]*")


_NEWLINES = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


# lab.state_dir is deleted by `lab.down --purge`: never one of these, nor anything inside a pseudo filesystem.
SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/lost+found", "/media",
    "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/tmp", "/usr", "/usr/bin",
    "/usr/lib", "/usr/lib64", "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/local/sbin", "/usr/sbin",
    "/usr/share", "/usr/src", "/var", "/var/backups", "/var/cache", "/var/lib", "/var/lib/docker", "/var/local",
    "/var/lock", "/var/log", "/var/mail", "/var/opt", "/var/run", "/var/spool", "/var/tmp"})


PSEUDO_FS_DIRS = ("/proc", "/sys", "/dev")


JOIN_MODES = ("vxlan", "uplink", "none")


CHECK_TIMEOUT_MAX = 86400  # a readiness check that may take longer than a day is a typo


def line_problem(v: str, secret: bool = False) -> str | None:
    """Why v is not one line of text (a newline, NUL or other control character), None if it is; a secret
    value is not quoted in the answer."""
    if LINE_RE.fullmatch(v):
        return None
    shown = f"the secret value {masking.MASK}" if secret else repr(v)
    if "\x00" in v:
        return f"{shown} contains a NUL character"
    if any(c in _NEWLINES for c in v):
        return f"{shown} contains a newline"
    return f"{shown} contains a control character"


def dns_name_problem(v: str, label_re: re.Pattern[str] = DOMAIN_LABEL_RE) -> str | None:
    """Why v is not a DNS name of RFC 1123 labels joined by '.' (at most 253 characters), None if it is."""
    if len(v) > DNS_NAME_MAX:
        return f"{v!r} is longer than {DNS_NAME_MAX} characters"
    for label in v.split("."):
        if not label_re.fullmatch(label):
            if not label:
                why = "empty"
            elif len(label) > 63:
                why = "longer than 63 characters"
            elif label[0] == "-" or label[-1] == "-":
                why = "starts or ends with '-'"
            else:
                why = "has a character outside a-z, 0-9, '-'"
            return f"{v!r} has the label {label!r}, which is {why}"
    return None


def address_problem(v: str) -> str | None:
    """Why v is neither an IPv4 address nor a DNS host name, None if it is one."""
    if re.fullmatch(r"[0-9.]+", v):  # digits and dots only: an address (or a typo of one), never a name
        try:
            ipaddress.IPv4Address(v)
        except ValueError:
            return f"{v!r} is not an IPv4 address"
        return None
    if dns_name_problem(v, HOST_LABEL_RE) is not None:
        return f"{v!r} is not an IPv4 address or a DNS host name"
    return None


def state_dir_problem(v: str) -> tuple[str, str] | None:
    """(problem, fix) if v cannot be the lab's state directory, which `lab.down --purge` deletes."""
    fix = "use a directory of the lab's own, e.g. /var/lib/dockstack-lab"
    if not v.startswith("/"):
        return f"{v!r} is not an absolute path", fix
    if ".." in v.split("/"):
        return f"{v!r} contains '..'", fix
    if v.startswith("//") or os.path.normpath(v) != v:
        return f"{v!r} is not a normalized path", f"write it as {os.path.normpath('/' + v.lstrip('/'))}"
    if not PATH_RE.fullmatch(v):
        return f"{v!r} has characters other than letters, digits, '.', '_', '-' and '/'", fix
    if v in SYSTEM_DIRS or any(v.startswith(d + "/") for d in PSEUDO_FS_DIRS):
        return f"{v!r} is a system directory (`inv lab.down --purge` deletes the state directory)", fix
    return None


def volume_problem(v: str) -> str | None:
    """Why v is not a `docker run --volume` value SOURCE:TARGET[:MODE], None if it is."""
    if v.startswith("-"):
        return f"{v!r} starts with '-'"
    parts = v.split(":")
    if len(parts) not in (2, 3):
        return f"{v!r} is not 'SOURCE:TARGET[:MODE]'"
    source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else None
    if not (MOUNT_PATH_RE.fullmatch(source) or VOLUME_NAME_RE.fullmatch(source)):
        return f"{v!r}: SOURCE {source!r} is neither an absolute path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)"
    if not MOUNT_PATH_RE.fullmatch(target) or target == "/":
        return f"{v!r}: TARGET {target!r} is not an absolute path other than /"
    if mode is not None:
        opts = mode.split(",")
        if (not all(o in VOLUME_OPTIONS for o in opts) or len(set(opts)) != len(opts)
                or {"ro", "rw"} <= set(opts) or {"z", "Z"} <= set(opts)):
            return f"{v!r}: MODE {mode!r} is not one of ro, rw, z, Z or a combination like ro,z"
    return None


_TYPE_WORDS = {dict: "a mapping", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "a boolean", type(None): "nothing"}


_TYPE_FIXES = {(dict,): "write KEY: VALUE lines under it", (list,): "write `- item` lines under it, or [a, b]"}


def type_word(t: type) -> str:
    """How an operator calls a YAML value of Python type t."""
    return _TYPE_WORDS.get(t, t.__name__)


def type_words(kinds: tuple[type, ...]) -> str:
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(type_word(t) for t in kinds)


def short(text: str, limit: int = 200) -> str:
    """text, cut in the middle when longer than limit: an error quotes a value, never a whole file of it."""
    if len(text) <= limit:
        return text
    return f"{text[:limit - 60]}...({len(text)} characters)...{text[-40:]}"


def image_problem(v: str, pattern: re.Pattern[str]) -> str | None:
    """Why v is not an image reference (IMAGE_RE) or a tag dockstack builds (IMAGE_TAG_RE), None if it is."""
    if v.startswith("-"):
        return f"{v!r} starts with '-' (docker would take it for an option)"
    m = pattern.fullmatch(v) if len(v) <= 600 else None  # longer than any valid reference: no regex work
    if m is None and pattern is IMAGE_TAG_RE and IMAGE_RE.fullmatch(v):
        return f"{v!r} has a digest: images dockstack builds are named NAME[:TAG]"
    if m is None:
        return (f"{v!r} is not an image reference ([REGISTRY/]PATH[:TAG][@DIGEST], PATH of lowercase letters, "
                "digits and '.', '_', '-' separators, TAG of [A-Za-z0-9_.-] up to 128 characters)")
    if len(m["name"]) > IMAGE_NAME_MAX:
        return f"{v!r} has a name longer than {IMAGE_NAME_MAX} characters"
    return None


GENERATED_RE = re.compile(r"[A-Za-z0-9]{24,128}")  # what a generated secret looks like (safe in SQL and shell)
