"""The end-to-end modules' layout, checked without a lab: no module imports another test module or conftest.py;
what several share lives in tests/e2e/helpers.py (the one `inv` runner among it); each module says the lab
scripts/test.sh runs it on (LAB), and that is the only place the split between the two labs is written."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
E2E = ROOT / "tests" / "e2e"
MODULES = sorted(E2E.glob("test_*.py"))


def conftest_constant(name: str):
    """A literal of tests/e2e/conftest.py, read without importing it (importing it sets the e2e tests' environment)."""
    for node in ast.parse((E2E / "conftest.py").read_text()).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == [name]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"tests/e2e/conftest.py has no {name} = ...")


def lab_of(path: Path) -> str:
    """The lab the module says it runs on: one top-level `LAB = "main"` or `LAB = "b"`, a literal (read without
    importing the module); anything else fails, since the module would then run in neither half or in both."""
    found = []
    for node in ast.parse(path.read_text()).body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == "LAB" for t in targets):
            value = node.value
            found.append(value.value if isinstance(value, ast.Constant) else ast.unparse(value) if value else None)
    assert len(found) == 1, f'{path.name}: LAB is set {len(found)} times {found}; say LAB = "main" or LAB = "b" once'
    assert found[0] in conftest_constant("LABS"), f'{path.name}: LAB = {found[0]!r}; say LAB = "main" or LAB = "b"'
    return found[0]


@pytest.mark.parametrize("path", sorted(E2E.glob("*.py")), ids=lambda p: p.name)
def test_e2e_modules_import_shared_helpers_only_from_helpers(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("tests.e2e")):
            assert node.module in ("helpers", "tests.e2e.helpers"), f"{path.name}:{node.lineno}: from {node.module}"
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith(("tests.e2e", "test_", "conftest")) for a in node.names), path.name


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_e2e_modules_run_inv_through_helpers_run_inv_not_a_wrapper_of_their_own(path):
    """helpers.run_inv's keywords (containers, hosts, check, timeout, env) say how a module's runs differ; seven
    modules had each grown an inv() of their own, with bounds and defaults of their own."""
    defined = [node.name for node in ast.parse(path.read_text()).body
               if isinstance(node, ast.FunctionDef) and node.name in ("inv", "run_inv")]
    assert not defined, f"{path.name} defines {defined}: call helpers.run_inv with keywords instead"


def test_the_labs_are_the_main_one_and_the_second():
    """scripts/test.sh runs two halves; a third lab would be a module that no half selects."""
    assert conftest_constant("LABS") == ("main", "b")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_each_e2e_module_names_exactly_one_lab(path):
    """conftest.py refuses a module without a lab at collection too, but only where the e2e tests are collected."""
    assert lab_of(path) in ("main", "b")


def test_every_shipped_stack_module_is_in_real_stack_modules_and_on_the_main_lab():
    """Only the main lab gets the shipped stack's images, and its one from-empty deploy (shipped_from_empty) is
    shared in REAL_STACK_MODULES's order: a module that asks for it must be there, and every module there on the
    main lab."""
    order = conftest_constant("REAL_STACK_MODULES")
    names = {p.name for p in MODULES}
    assert len(set(order)) == len(order) and set(order) <= names, order
    for name in order:
        assert lab_of(E2E / name) == "main", name
    for path in MODULES:
        uses = any(isinstance(node, ast.arg) and node.arg == "shipped_from_empty"
                   for node in ast.walk(ast.parse(path.read_text())))
        assert not uses or path.name in order, f"{path.name} uses shipped_from_empty: list it in REAL_STACK_MODULES"


def test_scripts_test_sh_splits_the_suite_by_the_lab_marker_alone():
    """The whole run's two pytest processes select complements, the second lab's on its hosts file: every test runs in
    exactly one half, and no list of modules is kept beside the modules' LAB."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    halves = set()
    for line in lines:
        if '"${pytest[@]}"' in line and " -m " in line:
            words = shlex.split(line)
            second = "INVOKE_DOCKSTACK_HOSTS_FILE=$lab_b" in words
            halves.add((second, words[words.index("-m") + 1], tuple(w for w in words if w.startswith("tests/"))))
    assert halves == {(True, "lab_b", ("tests/e2e",)), (False, "not lab_b", ("tests/unit", "tests/e2e"))}, halves
    named = [line for line in lines if re.search(r"tests/e2e/test_\w+\.py", line)]
    assert not named, f"scripts/test.sh names e2e modules; say their lab in each module (LAB): {named}"


@pytest.mark.parametrize("labs, ok", [(['"main"'], True), (['"b"'], True), ([], False), (['"main"', '"b"'], False),
                                      (['"c"'], False), (["MAIN"], False)],
                         ids=["main", "b", "none", "both", "unknown", "not-a-literal"])
def test_the_lab_check_refuses_no_lab_two_labs_and_an_unknown_one(tmp_path, labs, ok):
    """lab_of on made-up modules: it is what catches a module left out of both halves or put in both."""
    path = tmp_path / "test_made_up.py"
    path.write_text('MAIN = "main"\n' + "".join(f"LAB = {v}\n" for v in labs) + "\n\ndef test_x():\n    pass\n")
    if ok:
        assert lab_of(path) == labs[0].strip('"')
    else:
        with pytest.raises(AssertionError):
            lab_of(path)
