"""What one command knows of its hosts while it changes them: which containers exist where, which run, and the
digest of every service file a host holds. Read once from the facts, then kept up to date by the actions that
change them, so no part of the converge reads a host again to learn what another part just did."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from dockstack.facts import Record, file_digest
from dockstack.world import World


class Ledger:
    """Present, running and file digests, under one lock: safe from the worker threads of a tier."""

    def __init__(self, world: World, records: Mapping[str, Record]) -> None:
        self._lock = threading.Lock()
        self._present: dict[str, set[str]] = {h: set(f.containers) for h, f in world.hosts.items()}
        # a host that cannot be read still runs its containers as far as we know: keep them registered
        self._running: set[str] = {n for _, n in world.running()} | {
            n for n, r in records.items() if r.host in world.unreachable}
        self._digests = {(h, p): d for h, f in world.hosts.items() for p, d in f.files.items()}

    def running(self, name: str) -> bool:
        with self._lock:
            return name in self._running

    def running_of(self, names: Iterable[str]) -> frozenset[str]:
        with self._lock:
            return frozenset(n for n in names if n in self._running)

    def present(self, host: str, name: str) -> bool:
        with self._lock:
            return name in self._present.get(host, set())

    def serving(self, host: str, name: str) -> bool:
        """Running, and its container is on that host."""
        with self._lock:
            return name in self._running and name in self._present.get(host, set())

    def started(self, host: str, name: str, files: Mapping[str, str]) -> None:
        """It runs on host with these files (absolute path -> text)."""
        with self._lock:
            self._present.setdefault(host, set()).add(name)
            self._running.add(name)
            self._digests.update({(host, p): file_digest(t) for p, t in files.items()})

    def stopped(self, name: str) -> None:
        with self._lock:
            self._running.discard(name)

    def removed(self, host: str, name: str) -> None:
        """Gone from host; it still runs only if another host has it."""
        with self._lock:
            self._present.get(host, set()).discard(name)
            if not any(name in names for names in self._present.values()):
                self._running.discard(name)

    def gone(self, host: str, name: str) -> None:
        """Removed again by the script that made it (its undo): neither present there nor running."""
        with self._lock:
            self._present.get(host, set()).discard(name)
            self._running.discard(name)

    def stale(self, host: str, files: Mapping[str, str]) -> dict[str, str]:
        """The files whose content differs from what the host holds."""
        with self._lock:
            return {p: t for p, t in files.items() if self._digests.get((host, p)) != file_digest(t)}

    def written(self, host: str, files: Mapping[str, str]) -> None:
        with self._lock:
            self._digests.update({(host, p): file_digest(t) for p, t in files.items()})
