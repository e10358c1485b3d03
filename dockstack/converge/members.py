"""Balancer membership: a container that a balancer (haproxy) serves is drained before it stops, marked down once
stopped and ready (or up) once it is back, by a command each running balancer runs inside itself. Which command is
the balancing service's definition's (member_state); the converge only says when."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dockstack.actions import ExecSpec
from dockstack.config import Container, Stack
from dockstack.converge.ledger import Ledger
from dockstack.remote import Remotes, parallel
from dockstack.services.base import DRAIN_BOUND
from dockstack.services.registry import definition
from dockstack.settings import step_timeout

Say = Callable[[str], None]
DRAIN, DOWN, READY, UP = "drain", "down", "ready", "up"


class Balancers:
    """Tells every running balancer of a container what state to put it in."""

    def __init__(self, stack: Stack, remotes: Remotes, ledger: Ledger, unreachable: Mapping[str, str],
                 say: Say) -> None:
        self.stack, self.remotes, self.ledger, self.unreachable, self.say = stack, remotes, ledger, unreachable, say

    def set_member(self, c: Container, state: str) -> None:
        """Every running container of a service that balances c (haproxy) puts it in `state`: drain before it stops
        (no new connections, its sessions end, bounded, then out of service), down once it is stopped (its health
        check takes it back), or ready. Said, never raised: a balancer that cannot be told still checks its members
        itself."""
        work = []
        for b in self.stack.containers:
            d = definition(b)
            argv = d.member_state(self.stack, b, c, state) if d and b.name != c.name else None
            if argv and self.ledger.running(b.name) and b.host not in self.unreachable:
                work.append(ExecSpec(b.name, b.host, tuple(argv), f"{b.name}: {state} {c.name}",
                                     step_timeout() + DRAIN_BOUND))

        def tell(spec: ExecSpec) -> None:
            r = self.remotes[spec.host].run(spec.argv(), spec.step, check=False, timeout=spec.timeout)
            said = (r.stdout.strip().splitlines() or r.stderr.strip().splitlines() or [f"exit code {r.exit_code}"])
            self.say(f"  {c.name}: {state} on {spec.container}: " + said[-1][:200] if r.ok else
                     f"  {c.name}: {spec.container} could not {state} it ({said[-1][:200]}): its own health check "
                     "decides")

        parallel(work, tell)
