"""The end-to-end modules' layout, checked without a lab: no module imports another test module or conftest.py;
what several share lives in tests/e2e/helpers.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

E2E = Path(__file__).parent.parent / "e2e"


@pytest.mark.parametrize("path", sorted(E2E.glob("*.py")), ids=lambda p: p.name)
def test_e2e_modules_import_shared_helpers_only_from_helpers(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("tests.e2e")):
            assert node.module in ("helpers", "tests.e2e.helpers"), f"{path.name}:{node.lineno}: from {node.module}"
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith(("tests.e2e", "test_", "conftest")) for a in node.names), path.name
