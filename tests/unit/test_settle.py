"""A failing check's later looks in deploy-all (world.look_again): once more at once, then, within the role's settle
bound (a sub-service its own supervisor restarts), every SETTLE_POLL s until it passes or the bound is over; one
round trip per host per look; `inv status` asks once."""

from __future__ import annotations

import threading

import pytest

from dockstack import health, world
from dockstack.health import CheckResult

FAIL = CheckResult(1, "keystone: died and was restarted 3s ago (restart 1)")
OK = CheckResult(0, "")


class Clock:
    """time.monotonic and time.sleep for world: a sleep moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(world, "time", c)
    return c


class Hosts:
    """What each host's checks say, look by look: container -> the answers of its later looks, in order (the last
    one repeats); every ask is recorded as (host, names)."""

    def __init__(self, answers: dict[str, list[CheckResult]], where: dict[str, str]) -> None:
        self.answers, self.where = answers, where
        self.asked: list[tuple[str, tuple[str, ...]]] = []
        self.lock = threading.Lock()

    def ask(self, host: str, names: list[str]) -> dict[str, CheckResult]:
        with self.lock:
            self.asked.append((host, tuple(names)))
            out = {}
            for n in names:
                assert self.where[n] == host
                said = self.answers[n]
                out[n] = said.pop(0) if len(said) > 1 else said[0]
            return out


# --- the pure parts --------------------------------------------------------------------------------------------


def test_settling_keeps_the_failing_checks_whose_bound_has_not_passed():
    results = {"os1": FAIL, "os2": FAIL, "db1": FAIL, "web": OK}
    settle = {"os1": 45.0, "os2": 10.0, "db1": 0.0, "web": 45.0}
    assert health.settling(results, settle, 0.5) == ["os1", "os2"]
    assert health.settling(results, settle, 10.0) == ["os1"]  # the bound is over at 10 s: no look at 10 s
    assert health.settling(results, settle, 45.0) == []
    assert health.settling(results, {}, 0.0) == []  # no bound: no later look than the second


def test_the_next_look_comes_after_the_poll_but_never_past_the_last_bound():
    settle = {"os1": 45.0, "os2": 12.0}
    assert health.next_look(["os1", "os2"], settle, 3.0, 5.0) == 5.0
    assert health.next_look(["os1"], settle, 42.0, 5.0) == 3.0
    assert health.next_look(["os2"], settle, 11.5, 5.0) == 0.5
    assert health.next_look([], settle, 0.0, 5.0) == 0.0


# --- look_again ------------------------------------------------------------------------------------------------


def test_without_a_bound_a_failed_check_gets_one_second_look_at_once(clock):
    hosts = Hosts({"os1": [FAIL]}, {"os1": "h1"})
    checked = {"h1": {"os1": FAIL}}
    passed = world.look_again({"h1": {"os1": FAIL}}, checked, hosts.ask, {"os1": 0.0}, clock.now)
    assert hosts.asked == [("h1", ("os1",))] and clock.slept == [] and passed == {}
    assert checked["h1"]["os1"] == FAIL


def test_a_blip_its_supervisor_heals_is_polled_until_it_passes_asking_only_the_failing(clock):
    """os1's check fails three looks, then passes 10 s after the first: no repair, and only h1 is asked, once a
    look, for os1 alone (os2 on h2 passed its second look at once)."""
    said: list[str] = []
    hosts = Hosts({"os1": [FAIL, FAIL, OK], "os2": [OK]}, {"os1": "h1", "os2": "h2"})
    first = {"h1": {"os1": FAIL}, "h2": {"os2": FAIL}}
    checked = {"h1": {"os1": FAIL, "db1": OK}, "h2": {"os2": FAIL}}
    passed = world.look_again(first, checked, hosts.ask, {"os1": 45.0, "os2": 45.0}, clock.now, said.append)
    assert sorted(hosts.asked[:2]) == [("h1", ("os1",)), ("h2", ("os2",))]  # the second look: both hosts at once
    assert hosts.asked[2:] == [("h1", ("os1",)), ("h1", ("os1",))]
    assert clock.slept == [world.SETTLE_POLL, world.SETTLE_POLL]
    assert checked == {"h1": {"os1": OK, "db1": OK}, "h2": {"os2": OK}}
    assert passed == {"h1": {"os1": (4, 2 * world.SETTLE_POLL)}, "h2": {"os2": (2, 0.0)}}
    assert said == [f"  os1: the check fails; asked again every {world.SETTLE_POLL:g}s for up to 45s from the first "
                    "look (the service's own supervisor may be restarting a part of it) before any repair"]


def test_a_failure_that_outlasts_the_bound_is_left_failing_for_the_repair(clock):
    hosts = Hosts({"os1": [FAIL]}, {"os1": "h1"})
    checked = {"h1": {"os1": FAIL}}
    passed = world.look_again({"h1": {"os1": FAIL}}, checked, hosts.ask, {"os1": 12.0}, clock.now)
    assert clock.slept == [5.0, 5.0, 2.0]  # looks at 0, 5, 10 and 12 s: the last exactly at the bound
    assert len(hosts.asked) == 4 and passed == {} and checked["h1"]["os1"] == FAIL


def test_a_stop_request_ends_the_wait(clock):
    hosts = Hosts({"os1": [FAIL]}, {"os1": "h1"})
    stopped = iter([False, True])
    world.look_again({"h1": {"os1": FAIL}}, {"h1": {"os1": FAIL}}, hosts.ask, {"os1": 45.0}, clock.now,
                     stopping=lambda: next(stopped))
    assert len(hosts.asked) == 2 and clock.slept == [5.0]


def test_a_host_that_does_not_answer_a_later_look_keeps_its_last_answer_and_is_not_asked_again(clock):
    hosts = Hosts({"os1": [FAIL]}, {"os1": "h1"})
    checked = {"h1": {"os1": FAIL}}

    def silent(host: str, names: list[str]) -> dict[str, CheckResult]:
        hosts.asked.append((host, tuple(names)))
        return {}
    world.look_again({"h1": {"os1": FAIL}}, checked, silent, {"os1": 45.0}, clock.now)
    assert hosts.asked == [("h1", ("os1",))] and checked["h1"]["os1"] == FAIL
