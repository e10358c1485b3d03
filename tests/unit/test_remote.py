"""dockstack.remote: the pure helpers only (quoting and the thread fan-out); no SSH here."""

from __future__ import annotations

import shlex
import threading
import time

import pytest

from dockstack.remote import parallel, quote

TRICKY = ["echo", "two words", "semi;colon", "$(id)", "`id`", "it's", 'say "hi"', "", "*", "a\nb", 42, "-n"]


def test_quote_round_trips_through_shlex():
    assert shlex.split(quote(TRICKY)) == [str(a) for a in TRICKY]


def test_quote_leaves_plain_words_readable():
    assert quote(["docker", "ps", "--all"]) == "docker ps --all"
    assert quote(["sleep", 5]) == "sleep 5"


def test_quote_empty_argument_is_kept():
    assert quote(["printf", ""]) == "printf ''"


def test_parallel_keeps_item_order():
    delays = [0.03, 0.0, 0.02, 0.01]
    out = parallel(list(enumerate(delays)), lambda it: (time.sleep(it[1]), it[0] * 10)[1])
    assert out == [0, 10, 20, 30]


def test_parallel_runs_items_concurrently():
    barrier = threading.Barrier(4, timeout=5)
    # each call waits for all four: only possible if they run at the same time
    assert parallel(range(4), lambda i: (barrier.wait(), i)[1]) == [0, 1, 2, 3]


def test_parallel_empty():
    assert parallel([], lambda x: x) == []


def test_parallel_accepts_any_iterable():
    assert parallel((x for x in "abc"), str.upper) == ["A", "B", "C"]


def test_parallel_reraises_after_all_finish():
    finished = []
    lock = threading.Lock()

    def fn(i):
        if i == 1:
            raise RuntimeError("item 1 failed")
        time.sleep(0.05)
        with lock:
            finished.append(i)
        return i

    with pytest.raises(RuntimeError, match="item 1 failed"):
        parallel(range(4), fn)
    assert sorted(finished) == [0, 2, 3]


def test_parallel_reraises_the_first_error_in_item_order():
    def fn(i):
        if i == 0:
            time.sleep(0.05)  # fails last in time, but first in order
            raise KeyError("zero")
        if i == 2:
            raise ValueError("two")
        return i

    with pytest.raises(KeyError, match="zero"):
        parallel(range(3), fn)
