"""dockstack.stopping: SIGINT/SIGTERM wait for the work in flight, then stop with exit code 130."""

from __future__ import annotations

import os
import signal

import pytest

from dockstack.stopping import Interrupted, StopRequest, finish_then_stop


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_lets_the_work_finish_then_stops(sig, capsys):
    steps = []

    def work() -> str:
        steps.append("started")
        os.kill(os.getpid(), sig)  # the operator's Ctrl-C / kill, in the middle of the step
        steps.append("finished")
        return "record"

    with pytest.raises(Interrupted) as e:
        finish_then_stop("create of webui", work)
    assert steps == ["started", "finished"]
    assert str(e.value) == (f"{sig.name}: create of webui finished first, so nothing is left half-done; "
                            "stopped")
    assert f"{sig.name}: finishing the steps in flight, then stopping" in capsys.readouterr().err


def test_no_signal_returns_the_result_and_restores_the_handlers():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    assert finish_then_stop("start of galera", lambda: 42) == 42
    assert {s: signal.getsignal(s) for s in before} == before


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler, even when the suite was started with SIGINT ignored (`cmd &` in a script
    without job control): the handler a StopRequest gives back is the one it found."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_a_second_signal_gets_the_default_handling(python_sigint):
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.signal == "SIGINT"
        with pytest.raises(KeyboardInterrupt):  # Python's default for SIGINT: the operator insists
            os.kill(os.getpid(), signal.SIGINT)
