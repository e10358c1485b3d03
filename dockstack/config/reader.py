"""Reading one mapping of a config file: typed lookups whose errors name the file, the key, what is wrong and how
to fix it (a ConfigError), never a traceback."""

from __future__ import annotations

import ipaddress
from typing import Any

from dockstack.config.grammar import (
    _TYPE_FIXES,
    CONTAINER_NAME_RE,
    IFNAME_RE,
    NAME_RE,
    PATH_RE,
    line_problem,
    short,
    type_word,
    type_words,
)
from dockstack.errors import ConfigError


class _Reader:
    """Typed access to one mapping of a YAML file, with errors naming file and key."""

    def __init__(self, path: str, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, where or "(file)", f"must be a mapping, got {type_word(type(data))}",
                              "write KEY: VALUE lines")
        self.path, self.where, self.data = path, where, data

    def key(self, k: str) -> str:
        return f"{self.where}.{k}" if self.where else k

    def fail(self, k: str, problem: str, fix: str = "") -> ConfigError:
        return ConfigError(self.path, self.key(k), problem, fix)

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed, key=str)
        if extra:
            raise self.fail(str(extra[0]), "unknown key", f"allowed keys: {', '.join(sorted(allowed))}")

    def get(self, k: str, kind: type | tuple[type, ...], default: Any = ..., required: bool = False,
            hide: bool = False) -> Any:
        """The value of k, of the given type; a string must be one line (no newline, NUL or control character).
        hide: the value may hold secrets, so an error names its type, never the value."""
        if k not in self.data or self.data[k] is None:
            if required or default is ...:
                raise self.fail(k, "missing", "add this key")
            return default
        v = self.data[k]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(v, bool) and bool not in kinds:  # YAML's true/false are ints to Python
            yes_no = "YAML reads unquoted yes/no/on/off/true/false as booleans"
            if str in kinds:
                raise self.fail(k, f"must be {type_words(kinds)}, got the boolean {str(v).lower()}",
                                f"quote the value ({yes_no})")
            raise self.fail(k, f"must be {type_words(kinds)}, got the boolean {str(v).lower()}",
                            f"write a number ({yes_no})")
        if not isinstance(v, kind):
            got = f"{type_word(type(v))}" if hide or isinstance(v, (dict, list)) else f"{short(repr(v))}"
            number = isinstance(v, (int, float))
            fix = ("quote it: in YAML a value that looks like a number is one" if str in kinds and number
                   else _TYPE_FIXES.get(kinds, f"write {type_words(kinds)} there"))
            raise self.fail(k, f"must be {type_words(kinds)}, got {got}", fix)
        if isinstance(v, str):
            self.line(k, v)
        return v

    def line(self, k: str, v: str) -> str:
        """v, if it is one line of text."""
        problem = line_problem(v)
        if problem:
            raise self.fail(k, problem, "write it on one line, without control characters")
        return v

    def name(self, k: str) -> str:
        """A host, role, container or service name: a lowercase RFC 1123 label of at most 32 characters."""
        v = str(self.get(k, (str, int)))
        if not NAME_RE.fullmatch(v):
            raise self.fail(k, f"{v!r} is not a valid name",
                            "use 1-32 lowercase letters, digits and '-', not starting or ending with '-'")
        return v

    def container_name(self, k: str) -> str:
        """A container's name: a name() that Docker takes too (at least 2 characters)."""
        v = self.name(k)
        if not CONTAINER_NAME_RE.fullmatch(v):
            raise self.fail(k, f"{v!r} is too short for a container name: Docker refuses one character",
                            "use 2-32 lowercase letters, digits and '-', not starting or ending with '-'")
        return v

    def ifname(self, k: str, default: str | None) -> str | None:
        v = self.get(k, str, default)
        if v is not None and not IFNAME_RE.fullmatch(v):
            raise self.fail(k, f"{v!r} is not a valid interface name",
                            "1-15 chars of [A-Za-z0-9_.-], starting with a letter, digit or '_'")
        return v

    def file_path(self, k: str) -> str | None:
        """An optional file path (absolute or relative) that goes to ssh tools and the lab's hosts.yaml."""
        v = self.get(k, str, None)
        if v is not None and not PATH_RE.fullmatch(v):
            why = "starts with '-'" if v.startswith("-") else "is empty" if not v else (
                "has characters other than letters, digits, '.', '_', '-' and '/'")
            raise self.fail(k, f"{v!r} is not a usable file path: it {why}",
                            "use a path of letters, digits, '.', '_', '-' and '/' (e.g. /root/.ssh/id_ed25519)")
        return v

    def ip(self, k: str, default: Any = ...) -> ipaddress.IPv4Address | None:
        v = self.get(k, str, default)
        if v is None:
            return None
        try:
            return ipaddress.IPv4Address(v)
        except ValueError:
            raise self.fail(k, f"{v!r} is not an IPv4 address", "write it like 10.100.0.5") from None

    def items(self, k: str) -> list[Any]:
        v = self.get(k, list, [])
        return v
