"""The openstack container's readiness check, run against real processes and sockets on this machine: a service
passes only when it runs, is not stopped (SIGSTOP) and answers a question in its protocol on its port; a port the
kernel accepts on for a frozen process (a listening socket nobody reads) fails it."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockstack.services import openstack as openstack_service


class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(300)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def serve(handler: socket.socket, answer: bytes | None) -> None:
    """Accept on a listening socket; answer each connection's first bytes with `answer` (None: say nothing)."""
    while True:
        try:
            conn, _ = handler.accept()
        except OSError:
            return
        with conn:
            conn.recv(64)
            if answer is not None:
                conn.sendall(answer)
            time.sleep(0.1)


@pytest.fixture
def ports() -> Iterator[dict[str, int]]:
    """http: an HTTP server; amqp: RabbitMQ's first frame to a protocol header; frozen: a listening socket no process
    ever reads (what a service stopped with SIGSTOP leaves: the kernel still completes the handshake)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    amqp = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=serve, args=(amqp, b"\x01\x00\x00\x00\x00\x01\xf4\x00\x0a\x00\x0a"), daemon=True).start()
    frozen = socket.create_server(("127.0.0.1", 0), backlog=8)
    yield {"http": httpd.server_address[1], "amqp": amqp.getsockname()[1], "frozen": frozen.getsockname()[1]}
    httpd.shutdown()
    httpd.server_close()
    for s in (amqp, frozen):
        s.close()


@pytest.fixture
def sleeper() -> Iterator[int]:
    proc = subprocess.Popen(["sleep", "300"])
    yield proc.pid
    os.kill(proc.pid, signal.SIGCONT)
    proc.kill()
    proc.wait()


def check(tmp_path: Path, services: list[tuple[str, int, str]], pid: int) -> subprocess.CompletedProcess[str]:
    """The rendered check over a state folder in which every listed service runs as `pid`, up for a minute."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    (state / "phase").write_text("running\n")
    (state / "services").write_text("".join(f"{n} {p} {proto}\n" for n, p, proto in services))
    for n, _, _ in services:
        (state / n).write_text(f"up {pid} {int(time.time()) - 60} 0\n")
    script = tmp_path / "check"
    script.write_text(openstack_service.render_file("check").replace(openstack_service.STATE, str(state)))
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30)


def test_services_that_answer_in_their_protocol_pass(tmp_path, ports, sleeper):
    proc = check(tmp_path, [("rabbitmq", ports["amqp"], "amqp"), ("memcached", 0, "-"),
                            ("keystone", ports["http"], "http")], sleeper)
    assert (proc.returncode, proc.stdout) == (0, "ready\n")


@pytest.mark.parametrize("protocol", ["http", "amqp"])
def test_a_port_that_takes_the_connection_but_answers_nothing_fails_within_its_bound(tmp_path, ports, sleeper,
                                                                                      protocol):
    started = time.monotonic()
    proc = check(tmp_path, [("keystone", ports["http"], "http"), ("nova-api", ports["frozen"], protocol)], sleeper)
    assert proc.returncode == 1
    assert proc.stdout == f"nova-api: no {protocol} answer on port {ports['frozen']} within 2 s\n"
    assert 1.5 < time.monotonic() - started < 10  # it waited for an answer (the kernel took the connection)


def test_the_wrong_protocol_is_no_answer(tmp_path, ports, sleeper):
    """An HTTP server is not RabbitMQ: its answer to AMQP's header is no method frame."""
    proc = check(tmp_path, [("rabbitmq", ports["http"], "amqp")], sleeper)
    assert proc.returncode == 1 and "rabbitmq: no amqp answer" in proc.stdout


def test_a_service_stopped_with_sigstop_fails_though_its_process_exists(tmp_path, ports, sleeper):
    """nova-conductor and the schedulers have no port: a SIGSTOPped one passed `kill -0`."""
    assert check(tmp_path, [("nova-conductor", 0, "-")], sleeper).returncode == 0
    os.kill(sleeper, signal.SIGSTOP)
    for _ in range(100):  # the stop is delivered asynchronously
        if Path(f"/proc/{sleeper}/stat").read_text().rsplit(") ", 1)[1].startswith("T"):
            break
        time.sleep(0.02)
    proc = check(tmp_path, [("nova-conductor", 0, "-")], sleeper)
    assert (proc.returncode, proc.stdout) == (1, f"nova-conductor: stopped (pid {sleeper}, SIGSTOP)\n")
