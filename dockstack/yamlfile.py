"""Reading a config file (hosts.yaml, containers.yaml, the secrets file): YAML, strictly.

PyYAML's safe_load takes silently what an operator never means: a key written twice (the last one wins, the first
is lost without a word), integers of thousands of digits (Python then refuses to print them, deep in validation),
and aliases that nest into billions of values (a few lines that take minutes to quote in an error). Each of these,
like a file that is not UTF-8 text or not a file at all, is refused here with the file and the line.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from dockstack.errors import ConfigError

MAX_BYTES = 1 << 20  # a config file is a few KiB; this bounds what is read from a wrong path (/dev/zero, a log)
MAX_VALUES = 100_000  # values once aliases are expanded: a large stack has a few thousand
MAX_INT_DIGITS = 18  # no setting needs more; Python will not print an integer of more than 4300
MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictLoader(yaml.SafeLoader):
    """safe_load's loader, refusing a key given twice in one mapping and integers no setting could hold."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:  # `<<: *defaults`: keys written beside it override, as meant
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    fresh = key not in seen
                except TypeError:  # an unhashable key: the base class names it
                    continue
                if not fresh:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark,
                        f"the key {str(key)[:80]!r} is given twice in one mapping (the second would silently win)",
                        key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = str(node.value).lstrip("+-").replace("_", "")
        if len(digits) > MAX_INT_DIGITS + 2:  # "0x"/"0o" and the digits; checked before Python parses it
            raise yaml.constructor.ConstructorError(
                None, None, f"the number {digits[:12]}... ({len(digits)} characters) is too large for any setting",
                node.start_mark)
        return super().construct_yaml_int(node)


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)


def too_many_values(data: Any, limit: int = MAX_VALUES) -> bool:
    """Whether data, with every alias expanded, holds more than `limit` values (stops counting there, so nested
    or self-referring aliases cost at most `limit` steps)."""
    todo, n = [data], 0
    while todo:
        v = todo.pop()
        n += 1
        if n > limit:
            return True
        if isinstance(v, dict):
            todo.extend(v.keys())
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return False


def read_text(path: Path) -> str:
    """The file's text: it must be a regular file, at most MAX_BYTES, in UTF-8."""
    name = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(name, "(file)", "file not found", "create it or pass the right path") from None
    except OSError as exc:
        raise ConfigError(name, "(file)", f"cannot read it: {exc.strerror}", "pass the path of a readable file") \
            from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(name, "(file)", "is a directory", "pass the path of the YAML file in it")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(name, "(file)", "is not a regular file (a device, pipe or socket)",
                          "pass the path of a YAML file")
    if st.st_size > MAX_BYTES:
        raise ConfigError(name, "(file)", f"is {st.st_size} bytes, more than a config file's {MAX_BYTES}",
                          "pass the path of the YAML config file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(name, "(file)", f"cannot read it: {exc.strerror}", "pass the path of a readable file") \
            from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(name, f"line {line}", f"is not UTF-8 text (byte 0x{data[exc.start]:02x})",
                          "save the file as UTF-8") from None


def load(path: Path) -> Any:
    """The file's YAML document ({} for an empty one), read strictly (see the module's docstring)."""
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader: no Python objects
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other control characters)
        line = text[:exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(str(path), f"line {line}", f"not valid YAML: the character U+{code:04X} is not allowed in "
                          "YAML", "delete it, or write it as an escape in a double-quoted string") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        # only the problem, never str(exc): that quotes lines of the file, which may hold secret values
        raise ConfigError(str(path), where, f"not valid YAML: {getattr(exc, 'problem', None) or type(exc).__name__}",
                          "fix the YAML syntax") from None
    if too_many_values(data):
        raise ConfigError(str(path), "(file)", f"holds more than {MAX_VALUES} values once its aliases are expanded "
                          "(aliases nested in aliases, or one that refers to itself)",
                          "write the values out, or use aliases that do not nest")
    return data if data is not None else {}
