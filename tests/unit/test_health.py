"""dockstack.health: the checks' script (run for real with a fake docker), its parser and a container's health."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path

import pytest

from dockstack import health
from dockstack.health import FAIL, NO_SERVICE, NONE, PASS, CheckResult, Health, health_of, one_line, parse_health
from dockstack.masking import mask

SECRET = "s3cr3t-Value"


def masked(text: str) -> str:
    return mask(text, [SECRET])


def line(name: str, code: int, said: str | bytes = "") -> str:
    raw = said.encode() if isinstance(said, str) else said
    return f"health {name} {code} {base64.b64encode(raw).decode() if raw else '-'}"


# --- the parser -----------------------------------------------------------------------------------------------


def test_parse_reads_each_container_and_decodes_its_line():
    text = "\n".join([line("haproxy", 0), line("dnsmasq", 1, "no dnsmasq here"), line("web", 124)])
    assert parse_health(text) == {"haproxy": CheckResult(0, ""), "dnsmasq": CheckResult(1, "no dnsmasq here"),
                                  "web": CheckResult(124, "")}


def test_parse_ignores_lines_that_are_not_its_own():
    text = "\n".join(["Welcome to host1", "health", "health a b c", "health x 1 - extra", "health y -1 -",
                      line("ok", 0), "health bad 1 !!notbase64!!"])
    assert parse_health(text) == {"ok": CheckResult(0, ""), "bad": CheckResult(1, "")}


def test_parse_keeps_any_bytes_of_the_line_for_later_cleaning():
    got = parse_health(line("a", 2, b"\x1b[31mred\r\x07 \xff\xfe tail"))["a"]
    assert got.exit_code == 2 and got.line.startswith("\x1b[31mred\r\x07 ") and got.line.endswith(" tail")


def test_parse_empty():
    assert parse_health("") == {}


# --- one printable line ---------------------------------------------------------------------------------------


def test_one_line_replaces_control_characters_and_keeps_text():
    assert one_line("\x1b[31mred\x1b[0m\tand\rmore\x00 é ✓") == "?[31mred?[0m and?more? é ✓"


def test_one_line_bounds_the_length():
    out = one_line("x" * 5000)
    assert len(out) == health.DETAIL_CHARS and out.endswith("...")
    assert one_line("y" * health.DETAIL_CHARS) == "y" * health.DETAIL_CHARS
    assert one_line("  padded  ") == "padded"


# --- a container's health -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("running", "check", "result", "expected"), [
    (True, "pgrep -x haproxy", CheckResult(0, "1234"), Health(PASS)),
    (True, "pgrep -x haproxy", CheckResult(1, "haproxy is gone"), Health(FAIL, "haproxy is gone")),
    (True, "pgrep -x haproxy", CheckResult(1, ""), Health(FAIL, "exit code 1, no output")),
    (True, "sleep 60", CheckResult(124, ""), Health(FAIL, "no answer within 5s")),
    (True, "sleep 60", CheckResult(137, "waiting"), Health(FAIL, "no answer within 5s: waiting")),
    (False, "pgrep -x haproxy", None, Health(NONE)),
    (False, None, None, Health(NONE)),  # not running: nothing was checked, whatever the role
    (True, None, None, Health(NO_SERVICE)),
    (True, "", None, Health(NO_SERVICE)),
    (True, "pgrep -x haproxy", None, Health(NONE, "not checked: not running when the checks ran")),
])
def test_health_of_every_branch(running, check, result, expected):
    assert health_of(running, check, result, 5.0, masked) == expected


def test_health_masks_the_line_before_it_is_cut():
    said = f"env: DB_PASSWORD={SECRET} " + "z" * 300
    got = health_of(True, "env", CheckResult(1, said), 5.0, masked)
    assert got.state == FAIL and got.detail.startswith("env: DB_PASSWORD=*** zzz") and SECRET not in got.detail
    # a secret that reaches past the cut is masked whole first, never shown in part
    late = "w" * (health.DETAIL_CHARS - 5) + SECRET
    assert SECRET[:5] not in health_of(True, "env", CheckResult(1, late), 5.0, masked).detail


def test_show():
    assert Health(PASS).show() == "pass"
    assert Health(NO_SERVICE).show() == "no service"
    assert Health(FAIL, "haproxy is gone").show() == "fail: haproxy is gone"


# --- the argv -------------------------------------------------------------------------------------------------


def test_argv_passes_every_value_as_an_argument():
    argv = health.health_argv("org.dockstack.managed=true", [("web", "pgrep -x 'a b'; echo $HOME"), ("db", "true")],
                              5.0)
    assert argv[:2] == ["sh", "-c"] and argv[2] == health.HEALTH_SCRIPT and argv[3] == "sh"
    assert argv[4:] == ["org.dockstack.managed=true", "5", "7", str(health.OUTPUT_BYTES), str(health.LINE_BYTES),
                        "web", "pgrep -x 'a b'; echo $HOME", "db", "true"]
    assert health.health_argv("l", [], 2.5)[5:7] == ["2.5", "5"]


def test_read_health_makes_no_round_trip_without_checks():
    class NoRemote:
        def run(self, *args, **kwargs):
            raise AssertionError("no round trip expected")

    assert health.read_health(NoRemote(), "l", [], 5.0) == {}  # type: ignore[arg-type]


# --- the script, for real, with a fake docker -------------------------------------------------------------------

# `docker ps` lists $RUNNING; `docker exec NAME sh -c WRAPPER sh LIMIT CHECK` runs the wrapper here (the
# "container" is this machine), logging the name.
FAKE_DOCKER = """#!/bin/sh
case $1 in
  ps) printf '%s\\n' $RUNNING ;;
  exec) echo "$2" >> "$LOG"; shift 2; exec "$@" ;;
esac
"""


@pytest.fixture
def run_script(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)

    def run(checks: list[tuple[str, str]], running: str, limit: float = 5.0) -> tuple[dict, float, str]:
        argv = health.health_argv("org.dockstack.managed=true", checks, limit)
        t0 = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              env={"PATH": f"{bin_dir}:/usr/bin:/bin", "RUNNING": running,
                                   "LOG": str(tmp_path / "log"), "TMPDIR": str(tmp_path)})
        assert proc.returncode == 0, proc.stderr
        return parse_health(proc.stdout), time.monotonic() - t0, proc.stdout

    return run


def test_script_checks_only_running_containers_and_reports_each(run_script, tmp_path):
    got, _, _ = run_script([("web", "echo fine"), ("db", "echo first; echo; echo 'db is down'; echo '  '; exit 3"),
                            ("gone", "true"), ("web2", "true")], running="web db")
    assert got == {"web": CheckResult(0, "fine"), "db": CheckResult(3, "db is down")}
    assert sorted((tmp_path / "log").read_text().split()) == ["db", "web"]  # a name is matched whole: no web2


def test_script_runs_a_hosts_checks_at_once_and_bounds_a_hanging_one(run_script):
    checks = [(f"c{i}", "sleep 1") for i in range(6)] + [("hang", "echo 'still waiting'; sleep 30")]
    got, took, _ = run_script(checks, running=" ".join(n for n, _ in checks), limit=2)
    assert {n: r.exit_code for n, r in got.items()} == {**{f"c{i}": 0 for i in range(6)}, "hang": 124}
    assert got["hang"].line == "still waiting"
    assert took < 7, f"took {took:.1f}s: the checks did not run concurrently (8 s) or the hanging one was not cut"
    assert health_of(True, "x", got["hang"], 2, masked) == Health(FAIL, "no answer within 2s: still waiting")


def test_script_bounds_and_cleans_any_output(run_script, tmp_path):
    checks = [("flood", "head -c 3000000 /dev/zero | tr '\\0' 'a'; echo; echo last words; exit 1"),
              ("longline", "head -c 100000 /dev/zero | tr '\\0' 'b'; exit 1"),
              ("binary", "printf 'a\\000b\\033[2J\\r\\377ok\\n'; exit 2")]
    got, _, raw = run_script(checks, running="flood longline binary")
    assert len(raw) < 3 * 2 * health.LINE_BYTES  # what comes back is bounded, whatever the check printed
    assert got["flood"] == CheckResult(1, "last words")
    # a line longer than the kept window: its start was cut, so it is dropped (it could hold a part of a secret)
    assert got["longline"] == CheckResult(1, "")
    assert health_of(True, "x", got["longline"], 5, masked).detail == "exit code 1, no output"
    detail = health_of(True, "x", got["binary"], 5, masked).detail
    assert detail.isprintable() and detail.endswith("ok") and detail.startswith("ab?[2J?")
    assert not list(tmp_path.glob("dockstack-health.*"))  # its temporary folder is gone


def test_script_keeps_the_start_of_a_long_last_line(run_script):
    got, _, _ = run_script([("wide", "echo; printf 'start%.0s' $(seq 1 2000); echo; exit 1")], running="wide")
    assert got["wide"].line.startswith("startstart") and len(got["wide"].line) == health.LINE_BYTES


def test_script_removes_its_folder_when_its_reader_went_away(tmp_path):
    """Ctrl-C on deploy-all closes the SSH channel: the script's next write gets SIGPIPE, and its temporary
    folder goes all the same (found on the lab: one folder left on a host per interrupted run)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads what it prints
    try:
        proc = subprocess.run(health.health_argv("org.dockstack.managed=true", [("web", "sleep 1")], 5),
                              stdout=write_end, stderr=subprocess.PIPE, timeout=60,
                              env={"PATH": f"{bin_dir}:/usr/bin:/bin", "RUNNING": "web", "LOG": str(tmp_path / "log"),
                                   "TMPDIR": str(tmp_path)})
    finally:
        os.close(write_end)
    assert proc.returncode != 0
    assert not list(tmp_path.glob("dockstack-health.*"))


def test_a_paused_container_fails_whatever_its_check_said():
    """Docker counts a paused container running; the health script never checks it (status=running only)."""
    assert health_of(True, "true", None, 5.0, masked, paused=True) == Health(FAIL, health.PAUSED)
    assert health_of(True, None, None, 5.0, masked, paused=True) == Health(FAIL, health.PAUSED)  # even with no check
    assert health_of(False, "true", None, 5.0, masked, paused=True) == Health(NONE)
