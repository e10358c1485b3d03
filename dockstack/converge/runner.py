"""Running planned actions over the command's SSH connections: one container's action as one remote call (its
spec from dockstack.actions), its report turned into a Done; stops and removes, drained from the balancers first
when the container serves. Every decision was made by the plan (dockstack.plan.Action): this only carries it out
and says what happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from dockstack import actions, ipam
from dockstack.config import Container, Inventory, Stack
from dockstack.converge.book import AddressBook
from dockstack.converge.hooks import ServiceHooks
from dockstack.converge.ledger import Ledger
from dockstack.converge.members import DOWN, DRAIN, READY, UP, Balancers
from dockstack.converge.publish import Publisher
from dockstack.dockercli import LABEL_MANAGED
from dockstack.errors import DockstackError, RemoteError
from dockstack.facts import Record
from dockstack.plan import ADOPT, IN_PLACE, NOTHING, REFUSE, REMOVE, RUN_CREATE, RUN_RECREATE, RUN_RESTART, Action
from dockstack.plan import RUN_RESUME as RESUME
from dockstack.remote import Remotes, trace
from dockstack.services import service_dir
from dockstack.services.registry import definition
from dockstack.world import World

Say = Callable[[str], None]


@dataclass(frozen=True)
class Done:
    """One container's outcome: the address it holds now (to commit), and the error if it failed."""

    name: str
    host: str
    record: Record | None
    error: str | None
    changed: bool
    # failed only because a host does not answer (nothing was tried): one it needs, or the host of the member whose
    # failure held its role's roll
    unreachable: bool = False
    untouched: bool = False  # not changed because its role's roll stopped: it keeps running as it was
    # its balancers are still to be told it is ready: the converge does it beside the tier's address-book commit
    # (one round trip fewer on the tier's way; nobody waits on a member that served nothing before)
    ready_later: bool = False


class Runner:
    """Carries out actions, stops and removes for one command."""

    def __init__(self, inv: Inventory, stack: Stack, remotes: Remotes, world: World, ledger: Ledger,
                 book: AddressBook, hooks: ServiceHooks, publisher: Publisher, balancers: Balancers,
                 say: Say) -> None:
        self.inv, self.stack, self.remotes, self.world, self.say = inv, stack, remotes, world, say
        self.ledger, self.book, self.hooks, self.publisher, self.balancers = ledger, book, hooks, publisher, balancers

    def apply(self, a: Action) -> Done:
        """Run one container's action; failures come back as Done.error, never raised."""
        c = a.container
        down = [h for h in (c.host, *a.remove_from) if h in self.world.unreachable]
        if down:
            self.say(f"  {c.name}: FAILED: {self.world.unreachable[down[0]]}")
            return Done(c.name, c.host, None, self.world.unreachable[down[0]], True, unreachable=True)
        if a.kind == REFUSE:
            self.say(f"  {c.name}: FAILED: refused: {a.why}")
            return Done(c.name, c.host, None, f"refused: {a.why}", True, unreachable=True)
        try:
            if a.kind == NOTHING:
                self.say(f"  {c.name}: ok, {a.why}")
                return Done(c.name, c.host, None, None, False)
            if a.kind == ADOPT and a.observed:
                mac, ip = a.observed
                self.say(f"  {c.name}: adopt ({a.why})")
                return Done(c.name, c.host, Record(c.name, c.role, c.host, mac, ip, ipam.ADOPTED), None, True)
            return self._change(a)
        except RemoteError as exc:
            self.say(f"  {c.name}: FAILED at {exc.step}: {exc.detail.strip()}")
            return Done(c.name, c.host, None, f"step '{exc.step}': {exc.detail.strip()}", True)
        except DockstackError as exc:
            self.say(f"  {c.name}: FAILED: {exc}")
            return Done(c.name, c.host, None, str(exc), True)

    def _change(self, a: Action) -> Done:
        """An action that runs the action script: the old copies removed, drained first when it serves (and
        stopped, unless its mode works on it as it runs or only resumes it: a fallback after a resume takes it down
        then), its mode run, each fallback in turn while they fail, and its balancers told it is back."""
        c = a.container
        self.say(f"  {c.name}: {a.kind} ({a.why})")
        for host in a.remove_from:
            self.remove_copy(c, host)
        self.hooks.agent_pin(c)  # the CA to pin and its challenge, before anything is taken down
        serving = a.drain and self.ledger.serving(c.host, c.name)
        taken_down = False
        done = None
        try:
            modes = (a.mode or RUN_CREATE, *a.fallbacks)
            for tried, mode in zip((None, *modes), modes):
                if tried and done:
                    self.say(f"  {c.name}: {tried} did not help ({done.error}): {mode} it"
                             + (", keeping its address" if mode == RUN_RECREATE else ""))
                if serving and not taken_down and mode in IN_PLACE:  # out of every balancer; it runs on meanwhile
                    self.balancers.set_member(c, DRAIN)
                elif serving and not taken_down and mode != RESUME:
                    self.take_down(c)  # out of every balancer, then a clean stop: a planned change cuts no connection
                    taken_down = True
                elif tried:
                    self.stop(c.host, c.name)
                done = self.run(c, mode)
                if not done.error:
                    break
            assert done is not None
            if not serving and not a.rolls:  # served nothing before, no roll waits: `ready` beside the commit
                done = replace(done, ready_later=True)
            return done
        finally:
            # also after `inv stop` drained it, or a run that ended in between; one a roll took down and brought
            # back is waited for until the balancers count it up (the roll's next member goes down only then)
            if done is None or not done.ready_later:
                self.balancers.set_member(c, UP if serving and done is not None and not done.error else READY)

    def require(self, c: Container, mode: str, plan: ipam.AddressPlan) -> None:
        """Preconditions, from the facts: the image is on the host, a dnsmasq answers DHCP."""
        creates = mode in (RUN_CREATE, RUN_RECREATE)
        if creates and c.name in self.world.hosts[c.host].foreign:
            raise DockstackError(f"{c.host}: a container named {c.name} exists that dockstack did not make (no "
                                 f"{LABEL_MANAGED} label); dockstack never removes it: remove or rename it yourself, "
                                 f"or give {c.name} another name in {self.stack.path}")
        if creates and not self.world.hosts[c.host].images.get(c.image):
            raise DockstackError(f"{c.host}: image {c.image} (for {c.name}) is not on the host: "
                                 "run `inv images.sync`")
        if plan.static_ip:
            return
        ds = self.stack.address_providers()
        if not ds:
            raise DockstackError(f"{self.stack.path}: no role has service: dnsmasq: addresses come from it, add one")
        if not self.ledger.running_of(d.name for d in ds):
            raise DockstackError(f"no dnsmasq container is running ({', '.join(d.name for d in ds)}): "
                                 f"`inv create --name={ds[0].name}` (or start) first")

    def run(self, c: Container, mode: str) -> Done:
        """One run of the action script in `mode`, its report said and turned into a Done."""
        plan = self.book.address_for(c)
        self.require(c, mode, plan)
        d = definition(c)
        if d and d.provides_addresses:
            self.book.seed(c)
        self.say(f"  {c.name}: {mode} on {c.host} ({plan.why})")
        # its files go with a start (in place, the running container keeps its own: the publisher pushes changes)
        files, dirs = self.publisher.service_files(c) if mode not in (RESUME, *IN_PLACE) else ({}, ())
        if mode not in (RUN_RESTART, RESUME, *IN_PLACE):
            files |= {f"{service_dir(c)}/{name}": text for name, text in self.hooks.prepared(c.name).items()}
        if mode in (RUN_CREATE, RUN_RECREATE):  # a new container: its agent asks with a new key
            self.hooks.forget_certificate(c)
        spec = actions.action_spec(mode, c, self.stack.role(c.role), self.inv.network, plan,
                                   self.publisher.dns_servers(), files, dirs, d.private_files if d else frozenset(),
                                   self.hooks.agent_pin(c) if mode not in (RUN_RESTART, RESUME) else None,
                                   hold=d.resume_hold if d and mode == RESUME else 0)
        r = self.remotes[c.host].run_with_input(spec.argv(), spec.stdin, spec.step, check=False, timeout=spec.timeout)
        res = actions.parse_action(r.stdout)
        took = dict(res.took) | ({"agent": res.agent.seconds} if res.agent and res.agent.seconds is not None else {})
        trace({"host": c.host, "container": c.name, "mode": mode, "took": took})  # the benchmark's split
        if mode in (RUN_CREATE, RUN_RECREATE) and (not res.started or (res.failed_step is not None
                                                                        and not res.unready)):
            self.ledger.gone(c.host, c.name)  # the script's undo
        elif res.started:
            self.ledger.started(c.host, c.name, files)
        record = Record(c.name, c.role, c.host, res.mac, res.ip, plan.source) if res.mac and res.ip else None
        step, detail = self._failure(c, res, r.stderr, r.exit_code, plan)
        if step and (not res.started or record is None or (res.failed_step == "puppet agent"
                                                           and mode not in IN_PLACE)):
            self.ledger.stopped(c.name)  # a failed agent run removed (create) or stopped (start) it
        self._said(c, plan, record, res, step, detail)
        return Done(c.name, c.host, record, f"step '{step}': {detail}" if step else None, True)

    def _said(self, c: Container, plan: ipam.AddressPlan, record: Record | None, res: actions.ActionResult,
              step: str | None, detail: str) -> None:
        if res.resumed:
            self.say(f"  {c.name}: resumed: {res.resumed}")
        if record:
            self.say(f"  {c.name}: {record.ip} on {record.mac} ({plan.source})")
        if res.agent:
            a = res.agent
            took = f" in {a.seconds:.1f}s" if a.seconds is not None else ""
            counts = (f"{a.changed} changed, {a.failed} failed of {a.total} resources" if a.total is not None
                      else "no run summary")
            self.say(f"  {c.name}: puppet agent exit {a.exit_code}: {counts}{took}")
        if step:
            self.say(f"  {c.name}: FAILED at {step}: {detail}")
        elif record:
            self.say(f"  {c.name}: done")

    def _failure(self, c: Container, res: actions.ActionResult, stderr: str, code: int,
                 plan: ipam.AddressPlan) -> tuple[str | None, str]:
        """(step, what went wrong) of an action, or (None, "") when it succeeded."""
        if res.unready:
            said = f" (last said: {res.said})" if res.said else ""
            return f"{c.name}: readiness check `{self.stack.role(c.role).check}`", res.unready + said
        if res.failed_step:
            said = res.said or (stderr.strip().splitlines() or [f"exit code {code}"])[-1]
            return f"{c.name}: {res.failed_step}", said
        if plan.expected_ip and res.ip != plan.expected_ip:
            return f"{c.name}: address", f"got {res.ip}, expected {plan.expected_ip} from dnsmasq's lease data"
        return None, ""

    def restart(self, c: Container) -> None:
        """A running container restarted with its files (a service that never re-reads a changed one)."""
        done = self.run(c, RUN_RESTART)
        if done.error:
            raise DockstackError(f"{c.name} on {c.host}: {done.error}")

    def _stop_timeout(self, name: str) -> int | None:
        """How long its service's clean stop may take: its own, else Docker's default (a service's processes get
        their SIGTERM before a remove too: openstack's, the Puppet server's, ZooKeeper's, dnsmasq's); None for a
        container that runs no service of dockstack's (a plain remove is fine)."""
        return actions.stop_timeout_of(next((definition(c) for c in self.stack.containers if c.name == name), None))

    def remove(self, host: str, name: str) -> None:
        """Removed from host; a container whose service stops cleanly is stopped first, in the same round trip."""
        spec = actions.stop_spec(name, host, self._stop_timeout(name), remove=True)
        self.remotes[host].run(spec.argv(), spec.step, timeout=spec.timeout)
        self.ledger.removed(host, name)
        self.say(f"  {name}: removed from {host} (address kept)")

    def stop(self, host: str, name: str) -> None:
        """A clean stop: its service's signal and stop timeout, every process continued first."""
        spec = actions.stop_spec(name, host, self._stop_timeout(name), remove=False)
        self.remotes[host].run(spec.argv(), spec.step, timeout=spec.timeout)
        self.ledger.stopped(name)
        self.say(f"  {name}: stopped on {host} (address kept)")

    def remove_copy(self, c: Container, host: str) -> None:
        """A copy of c removed from host as a rolling replacement takes it down: drained from every balancer first
        when it serves there, then stopped cleanly and removed (a move, destroy-all)."""
        if self.ledger.serving(host, c.name):
            self.take_down(c, host, remove=True)
        else:
            self.remove(host, c.name)

    def retire(self, a: Action) -> None:
        """A stop or remove the plan decided: each running copy drained and stopped (or removed), each stopped
        copy of a remove removed."""
        for host in a.stop_on:
            self.take_down(a.container, host, remove=a.kind == REMOVE)
        for host in a.remove_from if a.kind == REMOVE else ():
            if host not in a.stop_on:
                self.remove(host, a.container.name)

    def take_down(self, c: Container, host: str | None = None, remove: bool = False) -> None:
        """A running container out of service without cutting a connection: drained from every balancer, stopped
        cleanly (or removed), then left to the balancers' health checks (`down`), which take it back as soon as a
        new container answers: one whose start needs itself through the VIP (OpenStack's catalog) must not wait
        for a `ready` that comes only once its start is done."""
        self.balancers.set_member(c, DRAIN)
        if remove:
            self.remove(host or c.host, c.name)
        else:
            self.stop(host or c.host, c.name)
        self.balancers.set_member(c, DOWN)
