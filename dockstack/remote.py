"""The transport (with hostkeys.py, the only code that touches Fabric/paramiko): run quoted commands and
move bytes over SSH, one connection per host, host keys checked.

Failures come back as RemoteError naming the host and the step, never as a library traceback.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import shlex
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import paramiko
from fabric import Connection

from dockstack import hostkeys
from dockstack.config import Host, Inventory
from dockstack.errors import RemoteError
from dockstack.scripts import script
from dockstack.settings import TRACE_ENV, seconds_from_env, step_timeout, trace_file  # noqa: F401 (re-exported)

CONNECT_TIMEOUT = 10
KEEPALIVE = 15  # seconds between SSH keepalives, so a dead peer is noticed
TMP_SUFFIX = ".dockstack-tmp"  # put_files.sh writes each file under this name first
PUT_FILES_SCRIPT = script("put_files.sh")
# One line per file: PATH<TAB>base64 of its content, or PATH<TAB>- when it does not exist (exact bytes).
# The text: dockstack/scripts/read_files.sh.
READ_FILES_SCRIPT = script("read_files.sh")

# paramiko logs transport-thread failures with tracebacks; dockstack reports them as RemoteError instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


def quote(argv: Sequence[str | int]) -> str:
    """One shell command line from an argv list: every argument quoted, nothing pasted."""
    return " ".join(shlex.quote(str(a)) for a in argv)


@dataclass(frozen=True)
class Result:
    ok: bool
    exit_code: int
    stdout: str
    stderr: str


_trace_lock = threading.Lock()


def trace(event: dict) -> None:
    """Append an event to $DOCKSTACK_TRACE (used by the round-trip tests and the benchmark)."""
    path = trace_file()
    if not path:
        return
    with _trace_lock, open(path, "a") as f:
        f.write(json.dumps(event) + "\n")


class Remote:
    """A persistent SSH connection to one Docker host; at most host.max_sessions channels at once."""

    def __init__(self, host: Host, inventory: Inventory, trust_new: bool = False, say=None) -> None:
        self.host = host
        kwargs: dict = {"banner_timeout": CONNECT_TIMEOUT,
                        "auth_timeout": CONNECT_TIMEOUT}
        if host.key:
            kwargs["key_filename"] = host.key
        self._conn = Connection(host.address, user=host.user, port=host.port, connect_kwargs=kwargs,
                                connect_timeout=CONNECT_TIMEOUT)
        hostkeys.load(self._conn.client, inventory)  # Fabric alone would accept any key (AutoAddPolicy)
        self._conn.client.set_missing_host_key_policy(
            hostkeys.TrustAndRecord(host, inventory, say) if trust_new else hostkeys.RefuseUnknown(host, inventory))
        self.inventory = inventory
        self._lock = threading.Lock()
        self._sessions = threading.BoundedSemaphore(host.max_sessions)
        # what a step that got no answer in time said: a host gone silent is not waited for again where it may be
        # left out (an address-book replica: the next run repairs it)
        self.unanswered = ""

    @property
    def name(self) -> str:
        return self.host.name

    def _open(self) -> None:
        with self._lock:
            if self._conn.is_connected:
                return
            try:
                self._conn.open()
            except paramiko.BadHostKeyException as exc:
                raise hostkeys.changed_key_error(self.host, self.inventory, exc) from None
            except paramiko.AuthenticationException as exc:
                raise RemoteError(self.name, "ssh login", f"{self.host.user}@{self.host.address}:{self.host.port} "
                                  f"refused the key {self.host.key or '(default keys)'}: {exc}") from None
            except (TimeoutError, OSError, paramiko.SSHException) as exc:
                raise RemoteError(self.name, "ssh connect", f"cannot reach {self.host.address}:{self.host.port}: "
                                  f"{exc or type(exc).__name__} (is the host up? `inv lab.up` for the lab)") from None
            transport = self._conn.client.get_transport()
            if transport is not None:
                transport.set_keepalive(KEEPALIVE)
            trace({"host": self.name, "connect": True})

    def _wrap(self, cmdline: str) -> str:
        return f"sudo -n sh -c {shlex.quote(cmdline)}" if self.host.sudo else cmdline

    def shell(self, cmdline: str, step: str, check: bool = True, timeout: float | None = None,
              stdin: str | None = None) -> Result:
        """Run a command line already built with quote(): one round trip, on a raw channel like send (Fabric's
        runner cost 40-45 ms more per call here: 135 ms against 90 for `true` on a lab host)."""
        res = self.send(cmdline, io.BytesIO((stdin or "").encode()), step, check=False, timeout=timeout)
        if check and not res.ok:
            raise RemoteError(self.name, step, self.explain((res.stderr or res.stdout).strip()
                                                            or f"exit code {res.exit_code}"))
        return res

    def explain(self, said: str) -> str:
        """What a command said, with the fix when the user may not use docker on the host."""
        if "docker.sock" in said and "permission denied" in said and not self.host.sudo:
            said += (f" ({self.host.user} may not use docker on {self.name}: connect as root, add the user to the "
                     f"docker group, or set sudo: true for {self.name} in hosts.yaml)")
        return said

    def run(self, argv: Sequence[str | int], step: str, check: bool = True, timeout: float | None = None) -> Result:
        return self.shell(quote(argv), step, check=check, timeout=timeout)

    def ok(self, argv: Sequence[str | int]) -> bool:
        """A probe: does the command succeed?"""
        return self.run(argv, "probe", check=False).ok

    def send(self, cmdline: str, data: BinaryIO, step: str,
             progress: Callable[[int], None] | None = None, check: bool = True,
             timeout: float | None = None) -> Result:
        """Stream data into a command's stdin on the host: one round trip on one raw SSH channel."""
        self._open()
        transport = self._conn.client.get_transport()
        if transport is None:
            raise RemoteError(self.name, step, "SSH transport closed")
        with self._sessions:
            return self._send(transport, cmdline, data, step, progress, check, timeout)

    def _send(self, transport: paramiko.Transport, cmdline: str, data: BinaryIO, step: str,
              progress: Callable[[int], None] | None, check: bool, timeout: float | None) -> Result:
        try:
            chan = transport.open_session()
        except (OSError, paramiko.SSHException) as exc:
            raise RemoteError(self.name, step, f"ssh failed: {exc}") from None
        sent = 0
        began = time.time()
        deadline = time.monotonic() + timeout if timeout else None
        try:
            chan.settimeout(timeout)  # a host that stops answering fails this step instead of hanging the run
            chan.exec_command(self._wrap(cmdline))
            last = time.monotonic()
            while chunk := data.read(1 << 20):
                chan.sendall(chunk)
                sent += len(chunk)
                if progress and time.monotonic() - last > 2:
                    progress(sent)
                    last = time.monotonic()
            chan.shutdown_write()
            out = chan.makefile("rb").read().decode(errors="replace")
            err = chan.makefile_stderr("rb").read().decode(errors="replace")
            if deadline and not chan.status_event.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError
            code = chan.recv_exit_status()
        except TimeoutError:
            self.unanswered = f"{step}: no answer within {timeout:g}s"
            raise RemoteError(self.name, step, f"no answer within {timeout:g}s (is {self.host.address} "
                              "reachable and its sshd answering?)") from None
        except (OSError, paramiko.SSHException) as exc:
            raise RemoteError(self.name, step, f"ssh transfer failed: {exc}") from None
        finally:
            chan.close()
            trace({"host": self.name, "step": step, "sent": len(cmdline) + sent, "began": round(began, 3),
                   "ended": round(time.time(), 3)})
        res = Result(code == 0, code, out, err)
        if check and not res.ok:
            raise RemoteError(self.name, step, (err or out).strip() or f"exit code {code}")
        return res

    def receive(self, argv: Sequence[str | int], sink: Callable[[bytes], None], step: str, idle: float,
                progress: Callable[[int], None] | None = None) -> Result:
        """Stream a command's standard output into sink, chunk by chunk as it arrives (a backup larger than memory
        never sits in it): one round trip on one raw SSH channel. idle bounds each wait for the next bytes, not the
        whole transfer. The Result's stdout is empty (it went to sink); its stderr is the command's last 64 KiB."""
        self._open()
        transport = self._conn.client.get_transport()
        if transport is None:
            raise RemoteError(self.name, step, "SSH transport closed")
        with self._sessions:
            try:
                chan = transport.open_session()
            except (OSError, paramiko.SSHException) as exc:
                raise RemoteError(self.name, step, f"ssh failed: {exc}") from None
            received, err = 0, bytearray()
            try:
                chan.settimeout(idle)
                chan.exec_command(self._wrap(quote(argv)))
                chan.shutdown_write()
                last = time.monotonic()
                while True:
                    while chan.recv_stderr_ready():
                        err += chan.recv_stderr(1 << 16)
                        del err[:-(1 << 16)]
                    chunk = chan.recv(1 << 20)
                    if not chunk:
                        break
                    sink(chunk)  # its own errors (the local file) pass through as they are
                    received += len(chunk)
                    if progress and time.monotonic() - last > 5:
                        progress(received)
                        last = time.monotonic()
                while chunk := chan.recv_stderr(1 << 16):
                    err += chunk
                    del err[:-(1 << 16)]
                if not chan.status_event.wait(idle):
                    raise TimeoutError
                code = chan.recv_exit_status()
            except TimeoutError:
                raise RemoteError(self.name, step, f"nothing received for {idle:g}s after {received} bytes (is "
                                  f"{self.host.address} reachable and the command still working?)") from None
            except (OSError, paramiko.SSHException) as exc:
                raise RemoteError(self.name, step, f"ssh transfer failed after {received} bytes: {exc}") from None
            finally:
                chan.close()
                trace({"host": self.name, "step": step, "received": received})
        return Result(code == 0, code, "", err.decode(errors="replace"))

    def run_with_input(self, argv: Sequence[str | int], data: bytes, step: str, check: bool = True,
                       timeout: float | None = None) -> Result:
        """A quoted command with bytes on its standard input: one round trip."""
        return self.send(quote(argv), io.BytesIO(data), step, check=check, timeout=timeout)

    def put_texts(self, files: dict[str, str], step: str) -> None:
        """Write files (absolute paths) in one round trip: a tar stream, then each renamed into place."""
        if not files:
            return
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(f"{path.lstrip('/')}{TMP_SUFFIX}")
                info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
                tar.addfile(info, io.BytesIO(data))
        buf.seek(0)
        self.send(quote(["sh", "-c", PUT_FILES_SCRIPT, "sh", *files]), buf, step)

    def put_text(self, path: str, text: str, step: str) -> None:
        self.put_texts({path: text}, step)

    def get_texts(self, paths: Sequence[str], step: str) -> dict[str, str | None]:
        """Files' contents (None where a file does not exist), in one round trip."""
        if not paths:
            return {}
        r = self.run(["sh", "-c", READ_FILES_SCRIPT, "sh", *paths], step)
        out: dict[str, str | None] = {}
        for line in r.stdout.splitlines():
            path, _, data = line.partition("\t")
            out[path] = None if data == "-" else base64.b64decode(data).decode(errors="replace")
        missing = [p for p in paths if p not in out]
        if missing:
            raise RemoteError(self.name, step, f"could not read {', '.join(missing)}")
        return out

    def sync_files(self, base: str, files: dict[str, str], step: str) -> set[str]:
        """Write the files (relative to base) whose content differs; returns their names. Two round trips at most."""
        current = self.get_texts([f"{base}/{name}" for name in files], step)
        changed = {name for name, text in files.items() if current[f"{base}/{name}"] != text}
        self.put_texts({f"{base}/{name}": files[name] for name in changed}, step)
        return changed

    def get_text(self, path: str, step: str) -> str | None:
        """A file's content, or None when it does not exist."""
        return self.get_texts([path], step)[path]

    def server_key(self) -> str:
        """The connected host's key as `TYPE SHA256:...` (connects first)."""
        self._open()
        transport = self._conn.client.get_transport()
        key = transport.get_remote_server_key() if transport else None
        return f"{key.get_name()} {hostkeys.fingerprint(key)}" if key else "?"

    def close(self) -> None:
        self._conn.close()


class Remotes:
    """One persistent Remote per host of the inventory, opened on first use."""

    def __init__(self, inventory: Inventory, trust_new: bool = False, say=None) -> None:
        self.inventory, self.trust_new, self.say = inventory, trust_new, say
        self._remotes: dict[str, Remote] = {}
        self._lock = threading.Lock()

    def __getitem__(self, host_name: str) -> Remote:
        with self._lock:
            if host_name not in self._remotes:
                self._remotes[host_name] = Remote(self.inventory.host(host_name), self.inventory, self.trust_new,
                                                  self.say)
            return self._remotes[host_name]

    def all(self) -> list[Remote]:
        return [self[h.name] for h in self.inventory.hosts]

    def close(self) -> None:
        for r in self._remotes.values():
            r.close()

    def __enter__(self) -> Remotes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parallel(items: Iterable, fn: Callable) -> list:
    """Run fn over items in threads (one per item); re-raise the first error after all finish."""
    items = list(items)
    results: list = [None] * len(items)
    errors: list[BaseException | None] = [None] * len(items)

    def work(i: int, item: object) -> None:
        try:
            results[i] = fn(item)
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=work, args=(i, it)) for i, it in enumerate(items)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        if e is not None:
            raise e
    return results
