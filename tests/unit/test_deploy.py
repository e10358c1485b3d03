"""dockstack.deploy: the pure helpers, Outcome.summary() and format_plan()."""

from __future__ import annotations

import pytest

from dockstack import plan
from dockstack.deploy import Outcome, format_plan


def test_summary_all_ok():
    assert Outcome(ok=10).summary() == "10 ok, 0 changed, 0 failed"


def test_summary_defaults():
    assert Outcome().summary() == "0 ok, 0 changed, 0 failed"


def test_summary_counts_failures():
    out = Outcome(ok=7, changed=3, failed=["web on h1: step 'x': boom", "db on h2: timeout"])
    assert out.summary() == "7 ok, 3 changed, 2 failed"


def test_summary_with_pruned():
    assert Outcome(ok=10, changed=1, pruned=2).summary() == "10 ok, 1 changed, 0 failed, 2 pruned"


def test_summary_zero_pruned_is_not_mentioned():
    assert "pruned" not in Outcome(ok=3, pruned=0).summary()


def test_outcomes_do_not_share_failure_lists():
    a, b = Outcome(), Outcome()
    a.failed.append("x")
    assert b.failed == []


@pytest.fixture
def actions(container):
    web = container("web", host="h1")
    db = container("db", host="h2")
    dns = container("dns", role="dnsmasq", host="h1", mac="02:00:0a:64:00:02", ip="10.100.0.2")
    return [plan.Action(dns, plan.NOTHING, "running with 10.100.0.2, image and options unchanged"),
            plan.Action(web, plan.CREATE, "missing"),
            plan.Action(db, plan.RECREATE, "moved from h1 to h2", ("h1",))]


def test_format_plan_one_line_per_action(actions):
    assert format_plan(actions, []).splitlines() == [
        "  dns (h1): nothing (running with 10.100.0.2, image and options unchanged)",
        "  web (h1): create (missing)",
        "  db (h2): recreate (moved from h1 to h2)",
    ]


def test_format_plan_prune_lines_after_actions(actions):
    lines = format_plan(actions, [("h1", "old"), ("h3", "stray")]).splitlines()
    assert len(lines) == 5
    assert lines[3:] == ["  old (h1): remove (not in the config, --prune)",
                         "  stray (h3): remove (not in the config, --prune)"]


def test_format_plan_prune_only():
    assert format_plan([], [("h2", "old")]) == "  old (h2): remove (not in the config, --prune)"


def test_format_plan_empty():
    assert format_plan([], []) == ""

