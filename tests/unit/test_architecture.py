"""The architecture contract: the engine asks a service's definition and never compares a service's name, and
every service dockstack ships is defined under dockstack/services/. (The import graph's own contract, no loop and
no import inside a function, is test_import_graph.py.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from dockstack.config import ROOT
from dockstack.services import registry

SERVICES = ROOT / "dockstack" / "services"
# the modules that run any service alike, found rather than listed (a new module is in at once): tasks.py and every
# module of dockstack/ outside dockstack/services/. They may reach definitions only through the registry and base.
ENGINE = ["tasks.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "dockstack").rglob("*.py")
                              if SERVICES not in p.parents)]
# a service that is a package (dockstack/services/NAME/): each of its modules is that service's own code
OWN_MODULES = [(pkg.name, str(m.relative_to(ROOT))) for pkg in sorted(SERVICES.iterdir())
               if (pkg / "__init__.py").is_file() for m in sorted(pkg.rglob("*.py"))]
ALLOWED_SERVICE_IMPORTS = {"dockstack.services", "dockstack.services.base", "dockstack.services.registry"}
# a service's own commands, which tasks.py alone hands its Invoke collection (galera's backup and restore)
SERVICE_COMMANDS = {"dockstack.services.galera.backup"}
NAMES = frozenset(registry.DEFINITIONS)


def _names_in(node: ast.AST, names: frozenset[str]) -> set[str]:
    """Service names written as string constants in node, alone or in a tuple, list or set."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {n for e in node.elts for n in _names_in(e, names)}
    return set()


def name_branches(source: str, names: frozenset[str] = NAMES) -> list[str]:
    """Each place in source that compares with, or looks up by, a service's name (one of `names`): `x == "galera"`,
    `x in ("puppet", "haproxy")`, `TABLE["galera"]`, `case "dnsmasq":`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            found_here = set().union(*(_names_in(n, names) for n in (node.left, *node.comparators)))
        elif isinstance(node, ast.Subscript):
            found_here = _names_in(node.slice, names)
        elif isinstance(node, ast.MatchValue):
            found_here = _names_in(node.value, names)
        else:
            continue
        found += [f"line {node.lineno}: {n}" for n in sorted(found_here)]
    return found


def service_imports(source: str, allowed: frozenset[str] = frozenset(ALLOWED_SERVICE_IMPORTS)) -> list[str]:
    """Imports of one service's own module (dockstack.services.galera, from dockstack.services import galera)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("dockstack.services.") and a.name not in allowed]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dockstack.services"):
            for a in node.names:
                whole = f"{node.module}.{a.name}"  # `from P import m`: the module P.m, or a name P defines
                if whole in allowed:
                    continue
                if node.module not in allowed:
                    out.append(node.module)
                elif node.module == "dockstack.services" and a.name in NAMES:
                    out.append(whole)
    return out


@pytest.mark.parametrize("module", ENGINE)
def test_no_engine_module_branches_on_a_service_name(module):
    source = (ROOT / module).read_text()
    assert name_branches(source) == [], f"{module} compares a service's name: ask its definition instead"
    allowed = ALLOWED_SERVICE_IMPORTS | (SERVICE_COMMANDS if module == "tasks.py" else set())
    assert service_imports(source, frozenset(allowed)) == [], \
        f"{module} imports a service's module: go through services.registry"


def test_the_engine_is_every_module_outside_the_services():
    """Found, not listed: the modules a hand-written list once left out are in, and no service's own."""
    assert {"tasks.py", "dockstack/converge/runner.py", "dockstack/config/stack.py", "dockstack/lab.py",
            "dockstack/scripts/__init__.py", "dockstack/rolling.py"} <= set(ENGINE)
    assert not [m for m in ENGINE if m.startswith("dockstack/services/")]
    assert ("galera", "dockstack/services/galera/backup.py") in OWN_MODULES


@pytest.mark.parametrize(("service", "module"), OWN_MODULES, ids=lambda x: x)
def test_a_services_own_module_names_no_other_service(service, module):
    """A service's own code (galera's bootstrap decision, its backup and restore, which drive the engine) may name
    its own service, never another's, and imports no other service's module."""
    source = (ROOT / module).read_text()
    assert name_branches(source, NAMES - {service}) == [], f"{module} compares another service's name"
    own = f"dockstack.services.{service}"
    others = [m for m in service_imports(source) if m != own and not m.startswith(f"{own}.")]
    assert others == [], f"{module} imports another service's module"


@pytest.mark.parametrize("snippet", [
    'if c.service == "galera": pass',
    'ok = c.service in ("puppet", "haproxy")',
    'ok = "dnsmasq" != c.service',
    'x = TABLE["openstack"]',
    'match c.service:\n    case "zookeeper": pass',
])
def test_the_contract_sees_a_branch_on_a_service_name(snippet):
    assert name_branches(snippet)


@pytest.mark.parametrize("snippet", ["from dockstack.services import galera", "import dockstack.services.haproxy",
                                     "from dockstack.services.puppet import MOUNT"])
def test_the_contract_sees_an_import_of_a_service_module(snippet):
    assert service_imports(snippet)


def test_a_services_own_name_is_its_own_to_name():
    assert name_branches('ok = c.service == "galera"', NAMES - {"galera"}) == []
    assert name_branches('ok = c.service == "puppet"', NAMES - {"galera"}) == ["line 1: puppet"]


def test_a_name_in_a_message_or_a_default_is_no_branch():
    assert name_branches('say("galera: starting"); x = f(service="haproxy")') == []


def test_every_shipped_service_is_defined_under_services():
    shipped = yaml.safe_load((ROOT / "containers.yaml").read_text())
    used = {r["service"] for r in shipped["roles"] if r.get("service")}
    assert used and used <= NAMES
    folder = ROOT / "dockstack" / "services"
    for name, d in registry.DEFINITIONS.items():
        module = Path(__import__(type(d).__module__, fromlist=["_"]).__file__)
        own = module.parent if module.name == "__init__.py" else module.with_suffix("")  # a module, or a package
        assert own.parent == folder and own.name == name, (name, module)


# the remote scripts the engine sends for any service (galera_*.sh and puppetserver.sh belong to their services:
# galera's package, dockstack/services/galera/: its definition, bootstrap decision, backup and restore)
ENGINE_SCRIPTS = sorted(p for p in (ROOT / "dockstack" / "scripts").glob("*.sh")
                        if p.name not in ("galera_recover.sh", "galera_backup.sh", "galera_restore.sh",
                                          "galera_swap.sh", "puppetserver.sh"))


def shell_name_branches(text: str) -> list[str]:
    """Lines of a shell script that test a value against a service's name (`[ "$service" = haproxy ]`, a `case`
    arm) or walk a service's folder by name (`"$root"/galera/*/`); comments and messages don't count."""
    names = "|".join(sorted(NAMES))
    pattern = re.compile(rf'(!?=\s*"?({names})"?\s*\])|(^\s*"?({names})"?\)\s)|(/({names})/)')
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        code = re.sub(r'(fail|echo|printf) .*', "", code)  # what a script says names services freely
        if pattern.search(code):
            out.append(f"line {i}: {line.strip()}")
    return out


@pytest.mark.parametrize("path", ENGINE_SCRIPTS, ids=lambda p: p.name)
def test_no_engine_script_branches_on_a_service_name(path):
    assert shell_name_branches(path.read_text()) == [], f"{path.name} names a service: pass it as an argument"


@pytest.mark.parametrize("line", ['if [ "$service" = haproxy ]; then', '  galera) echo x ;;',
                                  'for d in "$root"/galera/*/; do'])
def test_the_script_contract_sees_a_branch_on_a_service_name(line):
    assert shell_name_branches(line)


@pytest.mark.parametrize("path", sorted((ROOT / "dockstack").rglob("*.py")), ids=lambda p: p.name)
def test_only_settings_reads_the_environment(path):
    """DOCKSTACK_* settings are read in one place (dockstack/settings.py), so an operator finds them all there."""
    if path.name == "settings.py":
        return
    tree = ast.parse(path.read_text())
    reads = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("environ", "getenv")
             and isinstance(n.value, ast.Name) and n.value.id == "os"]
    assert reads == [], f"{path.relative_to(ROOT)} reads the environment (lines {reads}): add it to settings.py"


def test_every_dockstack_exception_is_under_the_one_root():
    """tasks.py turns a DockstackError into a clean message and exit 1: an exception class outside it would end a
    command in a traceback. Interrupted is no error (a signal's stop between steps) and is handled on its own."""
    import dockstack.errors
    from dockstack.stopping import Interrupted

    found = []
    for path in sorted((ROOT / "dockstack").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            roots = ("Exception", "ValueError", "RuntimeError")
            if isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id in roots for b in node.bases):
                found.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert found == ["dockstack/errors.py: DockstackError", "dockstack/ipam.py: ConflictError",
                     "dockstack/stopping.py: Interrupted"], found
    from dockstack.imagearchive import ArchiveError
    from dockstack.ipam import ConflictError
    assert issubclass(ArchiveError, dockstack.errors.DockstackError)
    assert issubclass(ConflictError, dockstack.errors.DockstackError)
    assert not issubclass(Interrupted, dockstack.errors.DockstackError)


# --- the converge recipe is written once (dockstack.converge): its callers plan and hand over, never run its steps --

RECIPE_STEPS = re.compile(r"\b(ensure_network|push_agent_server|_apply_tier|_commit_tier)\(|"
                          r"\.(hooks\.prepare|runner\.apply|runner\.run|publisher\.push)\(")
RECIPE_CALLERS = ["dockstack/lifecycle.py", "dockstack/deploy.py"]  # create/start and a role's start; deploy-all


@pytest.mark.parametrize("module", RECIPE_CALLERS)
def test_callers_hand_their_plan_to_the_one_converge(module):
    source = (ROOT / module).read_text()
    assert "converge(" in source, f"{module} should apply its plan through dockstack.converge.converge"
    assert RECIPE_STEPS.findall(source) == [], f"{module} runs a step of the converge recipe itself"


@pytest.mark.parametrize("module", [m for _, m in OWN_MODULES])
def test_a_services_own_commands_drive_the_engine_only_through_what_tasks_hands_them(module):
    """Galera's backup and restore stop and start the role through services.base.Engine (lifecycle.RoleEngine,
    handed in by tasks.py): a service's code never imports the engine that sits above it."""
    imported = [n.module or "" for n in ast.walk(ast.parse((ROOT / module).read_text()))
                if isinstance(n, ast.ImportFrom)]
    above = ("dockstack.converge", "dockstack.lifecycle", "dockstack.deploy", "dockstack.world",
             "dockstack.secretcheck", "dockstack.plan", "dockstack.status")
    assert [m for m in imported if m.startswith(above)] == [], module


def test_the_recipe_check_sees_a_step_run_by_hand():
    assert RECIPE_STEPS.findall("ensure_network(s, hosts)\ns.hooks.prepare([c])\ns.runner.apply(a)")
