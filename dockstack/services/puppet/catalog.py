"""What a node's Puppet catalog depends on, and its digest: pure (the texts in, a hex digest out).

A node's catalog is compiled from its node block in site.pp (its role's classes), the manifests of those classes and,
following every name they use, of the classes, defined types and functions those name, the templates and files
they read (`epp('profile/x.epp')`, `template(...)`, `file(...)`), the hieradata keys they look up and the class
parameters Hiera fills (`CLASS::PARAM`). The digest covers exactly that, so a change to galera.cnf.epp changes the
digest of the containers whose classes reach it and of no other.

Conservative wherever the code cannot be read for sure: a name of a shipped module that resolves to no file brings
in that whole module, a template or a lookup whose argument is not a plain string brings in every module or all the
hieradata, and so does a Ruby file (a function or an ERB template) or Hiera interpolation in the data. A module's own
Hiera layer (its hiera.yaml and data/) comes with any file of it. So a change can cost an agent run it did not
need, never go unseen.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

_SEGMENT = r"[A-Za-z][A-Za-z0-9_]*"
# a qualified name (a class, a defined type, a function, a class's variable, a resource reference), top-scope `::`
# allowed; `$` before it: a variable of the class it names
QUALIFIED = re.compile(rf"(\$)?(?<![\w:])(?:::)?({_SEGMENT}(?:::{_SEGMENT})+)\b")
# `include apache`, `require a, b`, `contain x`: a class by a bare (module) name
INCLUDED = re.compile(rf"\b(?:include|require|contain)\s+({_SEGMENT}(?:\s*,\s*{_SEGMENT})*)\b(?!::)")
# a lookup of one key written as a plain string (no interpolation)
LOOKUP = re.compile(r"\b(?:lookup|hiera|hiera_array|hiera_hash)\s*\(\s*(['\"])([\w:]+)\1")
ANY_LOOKUP = re.compile(r"\b(?:lookup|hiera|hiera_array|hiera_hash|hiera_include)\s*\(")
# a template or file read as 'module/path' (a plain string)
READ = re.compile(r"\b(epp|template|file)\s*\(\s*(['\"])([\w.-]+)/([\w./-]+)\2")
ANY_READ = re.compile(r"\b(?:epp|template|file)\s*\(")
# classes named by data: `lookup('classes').include`, `include $x`
DATA_INCLUDE = re.compile(r"\.include\b|\b(?:include|require|contain)\s+\$")
WHERE = {"epp": "templates", "template": "templates", "file": "files"}
# a string (kept: it may name a class or call a function) or a comment (dropped: prose is no code)
STRING_OR_COMMENT = re.compile(r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|#[^\n]*|/\*.*?\*/", re.S)
EPP_TAG = re.compile(r"<%(?![%#])[-=]?(.*?)-?%>", re.S)  # an EPP template's code (its text and <%# %> are none)
CODE, RUBY = (".pp", ".epp"), (".rb", ".erb")  # what is read here; what cannot be (it may read and look up anything)


@dataclass(frozen=True)
class Inputs:
    """What a node's catalog depends on: the modules' files its classes reach (paths relative to modules/), the
    hieradata keys they look up (None: any key, so all the hieradata), and the classes reached, whose parameters
    Hiera fills from `CLASS::PARAM`."""

    files: frozenset[str]
    keys: frozenset[str] | None
    classes: frozenset[str]

    def looks_up(self, key: str) -> bool:
        if self.keys is None or key in self.keys:
            return True
        owner, _, param = key.rpartition("::")
        return bool(param) and owner in self.classes


def _resolve(name: str, modules: Mapping[str, str]) -> str | None:
    """The file that defines `name` (a class or defined type, a Puppet or Ruby function), if a shipped one does."""
    module, *rest = name.split("::")
    path = "/".join(rest)
    for candidate in (f"{module}/manifests/{path or 'init'}.pp", f"{module}/functions/{path}.pp",
                      f"{module}/lib/puppet/functions/{module}/{path}.rb"):
        if candidate in modules:
            return candidate
    return None


def _code(path: str, text: str) -> str:
    """The Puppet code of a manifest or an EPP template, without its comments (an interpolating heredoc, whose
    text may hold a `#` before an expression, keeps them)."""
    if path.endswith(".epp"):
        text = "\n".join(m.group(1) for m in EPP_TAG.finditer(text))
    return text if '@("' in text else STRING_OR_COMMENT.sub(lambda m: m.group(1) or "", text)


def _module(path: str, modules: Mapping[str, str]) -> list[str]:
    """Every file of the module `path` (MODULE or MODULE/...) is in."""
    return [p for p in modules if p.startswith(f"{path.split('/', 1)[0]}/")]


def inputs(classes: Sequence[str], modules: Mapping[str, str]) -> Inputs:
    """Everything `classes` reach in `modules` (path relative to modules/ -> text), followed name by name."""
    shipped = {p.split("/", 1)[0] for p in modules}
    found: set[str] = set()
    keys: set[str] | None = set()
    reached: set[str] = set()
    names, files = [c.lower() for c in classes], []
    while names or files:
        if names:
            name = names.pop()
            if name.split("::")[0] not in shipped or name in reached:
                continue  # a module not shipped (or a hieradata key's namespace): nothing of ours to follow
            reached.add(name)
            path = _resolve(name, modules)
            files += [path] if path else _module(name.split("::")[0], modules)  # unresolved: its whole module
            continue
        path = files.pop()
        if path in found:
            continue
        found.add(path)
        files += [p for p in _module(path, modules) if p.split("/")[1:2] in (["hiera.yaml"], ["data"])]
        if path.endswith(RUBY):
            files, keys = files + list(modules), None
        if not path.endswith(CODE):
            continue  # data: read whole, nothing in it to follow
        text = _code(path, modules[path])
        if ANY_LOOKUP.search(LOOKUP.sub("", text)):
            keys = None
        elif keys is not None:
            keys |= {m.group(2) for m in LOOKUP.finditer(text)}
        code = LOOKUP.sub("", text)  # a key is no name to follow
        if ANY_READ.search(READ.sub("", code)) or DATA_INCLUDE.search(code):
            files += list(modules)  # what it reads or includes cannot be told: everything
        for m in READ.finditer(code):
            read = f"{m.group(3)}/{WHERE[m.group(1)]}/{m.group(4)}"
            files += [read] if read in modules else _module(read, modules)
        code = READ.sub("", code)
        names += [(m.group(2).rsplit("::", 1)[0] if m.group(1) else m.group(2)).lower()  # $a::b::x: a::b's
                  for m in QUALIFIED.finditer(code)]
        names += [n.strip().lower() for m in INCLUDED.finditer(code) for n in m.group(1).split(",")]
    return Inputs(frozenset(found), frozenset(keys) if keys is not None else None,
                  frozenset(n for n in reached if _resolve(n, modules)))


@functools.lru_cache(maxsize=8)
def _load(text: str) -> object:
    """A hieradata file's data, parsed once for every node it applies to (never changed by its readers)."""
    return yaml.safe_load(text)


def hieradata_used(hieradata: Mapping[str, str], found: Inputs) -> dict[str, object]:
    """What a node looks up of the hieradata files that apply to it (path -> YAML text): each file's keys it looks
    up, with their values; every file's whole text when it may look up any key, or the data interpolates
    (`%{...}` may read any key or fact)."""
    if found.keys is None or any("%{" in text for text in hieradata.values()):
        return dict(hieradata)
    used: dict[str, object] = {}
    for path, text in hieradata.items():
        data = _load(text)
        used[path] = ({k: v for k, v in data.items() if found.looks_up(str(k))} if isinstance(data, dict)
                      else text)
    return used


def digest(node: str, classes: Sequence[str], modules: Mapping[str, str], hiera_config: str,
           hieradata: Mapping[str, str]) -> str:
    """The digest of one node's catalog inputs: its node block (site.pp's text for it), the modules' files its
    classes reach, hiera.yaml, and what it looks up of the hieradata files that apply to it (path -> text)."""
    found = inputs(classes, modules)
    h = hashlib.sha256()

    def feed(label: str, text: str) -> None:
        data = text.encode()
        h.update(f"{label}\0{len(data)}\0".encode() + data)

    feed("node", node)
    feed("hiera.yaml", hiera_config)
    for path in sorted(found.files):
        feed(f"modules/{path}", modules[path])
    feed("hieradata", json.dumps(hieradata_used(hieradata, found), sort_keys=True, default=str))
    return h.hexdigest()
