"""The import graph of dockstack/: no loop, so the modules stand in layers (config below the service definitions,
the definitions below the engine that runs them, the commands on top), and no import inside a function, which is
how a loop used to hide. The graph is read from the source with ast: imports under `if TYPE_CHECKING:` and inside
functions count as much as any other, since a loop that only the type checker sees is still a loop."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

from dockstack.config import ROOT

DOCKSTACK = ROOT / "dockstack"
# third-party modules dockstack can run without, imported only where used (inside a function): none today
OPTIONAL_DEPENDENCIES: frozenset[str] = frozenset()


def module_name(path: Path) -> str:
    """dockstack/config/stack.py -> dockstack.config.stack; a package's __init__.py is the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources_of(folder: Path) -> dict[str, str]:
    """Every module under folder, by name, with its text."""
    return {module_name(p): p.read_text() for p in sorted(folder.rglob("*.py"))}


def _from_base(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The P of `from P import ...` in module `name`; a relative P is read from the module's own package."""
    if not node.level:
        return node.module or ""
    package = name.split(".") if is_package else name.split(".")[:-1]
    package = package[:len(package) - node.level + 1]  # one level up per dot after the first
    return ".".join([*package, node.module] if node.module else package)


def import_graph(sources: Mapping[str, str], packages: frozenset[str] = frozenset()) -> dict[str, set[str]]:
    """Module -> the modules of `sources` it imports, wherever the import stands (top level, under TYPE_CHECKING,
    inside a function). `from P import m` is an edge to P.m when P.m is one of sources, else to P. A package's
    __init__.py is not added as an edge of its modules: Python runs it first, but it only hands their names on."""
    graph: dict[str, set[str]] = {}
    for name, source in sources.items():
        asked: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                asked |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = _from_base(node, name, name in packages)
                asked |= {f"{base}.{a.name}" if f"{base}.{a.name}" in sources else base for a in node.names}
        graph[name] = {m for m in asked if m in sources and m != name}
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Each set of modules that import one another round a loop (Tarjan's strongly connected components of more
    than one module), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def function_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of each import inside a function or a method, nested ones once."""
    found: set[tuple[int, str]] = set()
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                found |= {(node.lineno, a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                found.add((node.lineno, "." * node.level + (node.module or "")))
    return sorted(found)


SOURCES = sources_of(DOCKSTACK)
PACKAGES = frozenset(module_name(p) for p in DOCKSTACK.rglob("__init__.py"))


def test_dockstack_has_no_import_loop():
    graph = import_graph(SOURCES, PACKAGES)
    assert "dockstack.config.stack" in graph and "dockstack.services.galera.backup" in graph  # it read them all
    loops = cycles(graph)
    assert loops == [], f"modules that import one another round a loop: {loops}; pass what the lower one needs in " \
                        "(as load_stack is handed the definitions) or move the shared part below both"


def test_config_reaches_no_service_and_the_registry_no_command():
    """The loop that once was, and the one the galera package could make: config is loaded with the definitions
    handed in, and the registry imports galera's definition, never its backup (which drives the engine)."""
    graph = import_graph(SOURCES, PACKAGES)

    def reached(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for m in graph[todo.pop()] - seen:
                seen.add(m)
                todo.append(m)
        return seen

    for module in (m for m in graph if m.startswith("dockstack.config")):
        assert not {m for m in reached(module) if m.startswith("dockstack.services")}, module
    assert "dockstack.services.galera.backup" not in reached("dockstack.services.registry")
    assert "dockstack.converge" not in reached("dockstack.services.registry")


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_no_import_inside_a_function(module):
    """An import inside a function hides a loop from whoever reads the top of the file; only an optional
    dependency (OPTIONAL_DEPENDENCIES) may wait until it is used."""
    found = [(line, m) for line, m in function_imports(SOURCES[module])
             if m.split(".")[0] not in OPTIONAL_DEPENDENCIES]
    assert found == [], f"{module} imports inside a function (line, module): {found}: import it at the top"


# --- the checks themselves, on small made-up trees ----------------------------------------------------------------


def test_the_checker_sees_a_loop_of_two():
    assert cycles(import_graph({"a": "import b", "b": "from a import x"})) == [["a", "b"]]


def test_the_checker_sees_a_loop_through_a_type_checking_import():
    sources = {"p.m": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.n import Stack\n",
               "p.n": "from p.m import Traits\n"}
    assert cycles(import_graph(sources)) == [["p.m", "p.n"]]


def test_the_checker_sees_a_loop_through_an_import_inside_a_function():
    sources = {"p.config": "def load():\n    from p.registry import TRAITS\n", "p.registry": "import p.config\n",
               "p.other": "import p.config\n"}
    assert cycles(import_graph(sources)) == [["p.config", "p.registry"]]
    assert function_imports(sources["p.config"]) == [(2, "p.registry")]


def test_the_checker_sees_a_loop_of_three_and_leaves_out_what_hangs_off_it():
    sources = {"a": "import b", "b": "import c", "c": "import a\nimport d", "d": "import os"}
    assert cycles(import_graph(sources)) == [["a", "b", "c"]]


def test_from_a_package_import_a_module_is_an_edge_to_that_module_not_the_package():
    sources = {"p": "from p.m import x\nfrom p.n import y\n", "p.m": "from p import n\n", "p.n": "x = 1\n"}
    graph = import_graph(sources, frozenset({"p"}))
    assert graph == {"p": {"p.m", "p.n"}, "p.m": {"p.n"}, "p.n": set()}
    assert cycles(graph) == []  # the package's face re-exporting its modules is no loop


def test_a_relative_import_is_read_from_the_modules_own_package():
    sources = {"p": "", "p.m": "from . import n\n", "p.n": "from .m import x\n"}
    assert cycles(import_graph(sources, frozenset({"p"}))) == [["p.m", "p.n"]]


def test_a_tree_without_a_loop_has_none():
    assert cycles(import_graph({"top": "import mid\nimport low", "mid": "import low", "low": "import os"})) == []


def test_an_import_at_the_top_or_in_a_class_is_no_function_import():
    assert function_imports("import os\nclass A:\n    import re\n    def f(self):\n        return os\n") == []
    assert function_imports("def f():\n    def g():\n        import yaml\n") == [(3, "yaml")]
