"""haproxy's readiness check (templates/haproxy/ready.sh.j2), run with stand-ins for pgrep and real sockets on this
machine: haproxy must answer `show stat` on its runtime API within its bound (a port the kernel accepts on for a
frozen haproxy is no answer), and a keepalived stopped with SIGSTOP fails it."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockstack.config import Vip
from dockstack.render import render

STAT = "# pxname,svname,qcur\nmysql,galera1,0\n"


def answer_stat(server: socket.socket) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(64)
            conn.sendall(STAT.encode())


@pytest.fixture
def ports() -> Iterator[dict[str, int]]:
    """stats: answers `show stat` and closes, as haproxy's runtime API does; frozen: a listening socket no process
    reads (what a haproxy stopped with SIGSTOP leaves)."""
    stats = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=answer_stat, args=(stats,), daemon=True).start()
    frozen = socket.create_server(("127.0.0.1", 0))
    yield {"stats": stats.getsockname()[1], "frozen": frozen.getsockname()[1]}
    for s in (stats, frozen):
        s.close()


@pytest.fixture
def keepalived() -> Iterator[int]:
    proc = subprocess.Popen(["sleep", "300"])
    yield proc.pid
    os.kill(proc.pid, signal.SIGCONT)
    proc.kill()
    proc.wait()


def ready(tmp_path: Path, stats_port: int, keepalived: int | None = None,
          vip_port: int | None = None) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    # pgrep's stand-in: haproxy runs as this shell's pid, keepalived as the given one
    (bin_dir / "pgrep").write_text(f'#!/bin/sh\ncase $2 in haproxy) echo $$ ;; keepalived) echo {keepalived} ;; '
                                   '*) exit 1 ;; esac\n')
    (bin_dir / "pgrep").chmod(0o755)
    vip = Vip(ipaddress.IPv4Address("127.0.0.1"), "vip", 51, "pw") if keepalived is not None else None
    script = tmp_path / "ready"
    script.write_text(render("haproxy/ready.sh.j2", vip=vip, port=vip_port, stats_port=stats_port,
                             domain="example.lab"))
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"})


def test_ready_when_haproxy_answers_show_stat(tmp_path, ports):
    proc = ready(tmp_path, ports["stats"])
    assert (proc.returncode, proc.stdout) == (0, "")


def test_a_runtime_api_that_takes_the_connection_and_answers_nothing_fails_in_its_bound(tmp_path, ports):
    started = time.monotonic()
    proc = ready(tmp_path, ports["frozen"])
    assert proc.returncode == 1
    assert proc.stdout == f"haproxy did not answer 'show stat' on 127.0.0.1:{ports['frozen']} within 2 s\n"
    assert 1.5 < time.monotonic() - started < 10


def test_a_keepalived_stopped_with_sigstop_fails_it(tmp_path, ports, keepalived):
    """The VIP answers all the same (its peer takes it over): only the process's state tells."""
    assert ready(tmp_path, ports["stats"], keepalived, vip_port=ports["stats"]).returncode == 0
    os.kill(keepalived, signal.SIGSTOP)
    for _ in range(100):  # the stop is delivered asynchronously
        if Path(f"/proc/{keepalived}/stat").read_text().rsplit(") ", 1)[1].startswith("T"):
            break
        time.sleep(0.02)
    proc = ready(tmp_path, ports["stats"], keepalived, vip_port=ports["stats"])
    assert (proc.returncode, proc.stdout) == (1, f"keepalived is stopped (pid {keepalived}, SIGSTOP)\n")
