"""The benchmark's pure parts: how it splits a deploy-all of the real stack into its phases."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from dockstack.config import ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["bench_run"]


def test_real_phases_split_each_tier_by_its_slowest_container(bench):
    lines = [(0.5, "facts"), (1.0, "[1/3] dnsmasq"), (1.8, "  dnsmasq: done"),
             (2.0, "[2/3] puppet"), (32.0, "  puppet: done"),
             (33.0, "[3/3] galera"), (40.0, "  galera1: done"), (50.0, "  galera2: done"), (51.0, "3 ok")]
    trace = [{"host": "host1", "step": "read host facts", "sent": 10},
             {"host": "host1", "container": "dnsmasq", "took": {"addressing": 0.5, "check": 0.1}},
             {"host": "host2", "container": "puppet", "took": {"addressing": 0.6, "check": 28.0}},
             {"host": "host1", "container": "galera1", "took": {"addressing": 1.0, "agent": 4.0, "check": 1.5}},
             {"host": "host2", "container": "galera2", "took": {"addressing": 1.2, "agent": 6.0, "check": 8.0}}]
    ph = bench.real_phases(bench.Run(["inv"], 52.0, 0, lines, trace, 0))
    assert ph.before == 1.0
    assert ph.addressing == pytest.approx(0.5 + 0.6 + 1.2)  # galera2 is the slowest of its tier
    assert ph.puppet == pytest.approx(6.0)
    assert ph.readiness == pytest.approx(0.1 + 28.0 + 8.0)
    assert ph.server_start == pytest.approx(28.0)
    assert ph.other == pytest.approx(52.0 - 1.0 - 2.3 - 6.0 - 36.1)



def test_splice_real_replaces_only_the_real_stack_section_and_its_goal(bench):
    old = ("# Benchmarks\n\n## Engine\n\n| a | b |\n\n## The real stack (old)\n\nold text\n\n| old | 1 |\n\n"
           "## Goals\n\n| goal | measured | |\n| --- | ---: | --- |\n| engine goal | 1.0 | met |\n"
           "| real stack: old goal | 9 s | **missed** |\n")
    section = ["", "## The real stack (new)\n", "what it is\n", "| measure | seconds |", "| x | 2 |"]
    text = bench.splice_real(old, section, ["| real stack: no-change < 2 s | 0.9 s | met |"], "Measured now.\n")
    assert "old text" not in text and "old goal" not in text
    assert text.index("## Engine") < text.index("## The real stack (new)") < text.index("Measured now.")
    assert text.index("| x | 2 |") < text.index("## Goals") < text.index("| engine goal | 1.0 | met |")
    assert text.rstrip().endswith("| real stack: no-change < 2 s | 0.9 s | met |")
    assert "| a | b |" in text


def test_busy_is_the_load_when_the_run_started_not_its_own_at_the_end(bench, monkeypatch):
    monkeypatch.setattr(bench.os, "cpu_count", lambda: 2)
    machine = ["nproc: 2", "load average when the run started: 1.69 2.93 2.88",
               "load average when the run ended: 5.56 4.87 4.25"]  # the end: the real stack's own services
    assert not bench.started_busy(machine)
    machine[1] = "load average when the run started: 4.50 3.00 2.00"
    assert bench.started_busy(machine)
