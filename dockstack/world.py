"""What a command knows before it acts: every host's facts and the address book, read once.

One round trip per host (facts.HOST_FACTS_SCRIPT, in parallel); the address book comes with the
facts: the copies in dnsmasq's folders and every host's replica, merged (the newest generation wins).
Nothing re-lists containers afterwards: the converge's ledger keeps this picture current from what its own
actions report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from dockstack import addressbook, agent, facts
from dockstack import health as health_mod
from dockstack.config import Inventory, Stack
from dockstack.dockercli import LABEL_MANAGED
from dockstack.errors import DockstackError, RemoteError
from dockstack.remote import Remotes, parallel, step_timeout
from dockstack.services import SERVICE_ROOT, service_dir
from dockstack.services.registry import facts_wanted

CONFIRM_FACTOR, CONFIRM_MIN = 3, 30.0  # a failed check is run again with this longer bound before a repair
SETTLE_POLL = 5.0  # seconds between looks at failed checks still within their role's settle bound (deploy-all)
Looks = dict[str, dict[str, health_mod.CheckResult]]  # host -> container -> what its check said


@dataclass(frozen=True)
class World:
    hosts: dict[str, facts.HostFacts]
    book: addressbook.Book
    copies: dict[str, facts.BookCopy]  # configured dnsmasq container -> its copy (absent: none yet)
    book_notes: tuple[str, ...]  # copies that differ from the newest, damaged files and what was done
    unreachable: dict[str, str] = field(default_factory=dict)  # host -> why its facts could not be read
    # host -> container -> what its readiness check said (read_world(health=True): deploy-all and status)
    checks: dict[str, dict[str, health_mod.CheckResult]] = field(default_factory=dict)
    check_limit: float = 0.0  # the bound each check had
    # host -> container -> what its check said the first time, for checks that failed and were run again
    # (read_world(confirm=True): deploy-all); `checks` then holds the second answer, given `confirm_limit`
    first_looks: dict[str, dict[str, health_mod.CheckResult]] = field(default_factory=dict)
    confirm_limit: float = 0.0
    replicas: dict[str, facts.BookCopy] = field(default_factory=dict)  # host -> its replica (absent: none yet)
    # host -> container -> (which look, seconds after the first) of a check that failed, then passed
    passed_later: dict[str, dict[str, tuple[int, float]]] = field(default_factory=dict)

    def health(self, stack: Stack, name: str, host: str) -> health_mod.Health:
        """A container's health on a host, from the checks this world read (none read: not checked)."""
        state = self.hosts[host].containers.get(name) if host in self.hosts else None
        running, check = bool(state and state.running), stack.role(stack.container(name).role).check
        first = self.first_looks.get(host, {}).get(name)  # set: `checks` holds its second look's answer
        said = health_mod.health_of(running, check, self.checks.get(host, {}).get(name),
                                    self.check_limit if first is None else self.confirm_limit, stack.mask,
                                    paused=bool(state and state.paused))
        if first is None or said.state != health_mod.PASS:
            return said
        failed = health_mod.health_of(running, check, first, self.check_limit, stack.mask)
        look, after = self.passed_later.get(host, {}).get(name, (2, 0.0))
        if look <= 2:
            return health_mod.Health(health_mod.PASS, f"passes on a second look (it failed: {failed.detail})")
        return health_mod.Health(health_mod.PASS, f"passes on look {look}, {after:.0f}s after the first: its service "
                                                  f"healed itself (it failed: {failed.detail})")

    def copy_of(self, copy: addressbook.Copy) -> facts.BookCopy | None:
        """What the facts found of one copy of the address book (None: nothing, or its host did not answer)."""
        return self.copies.get(copy.dnsmasq) if copy.dnsmasq else self.replicas.get(copy.host)

    def where(self, name: str) -> dict[str, facts.ContainerState]:
        """host -> state, for every host that has a dockstack container of that name."""
        return {h: f.containers[name] for h, f in self.hosts.items() if name in f.containers}

    def running(self) -> set[tuple[str, str]]:
        """(host, name) of every running dockstack container."""
        return {(h, n) for h, f in self.hosts.items() for n, s in f.containers.items() if s.running}


def read_world(inv: Inventory, stack: Stack, remotes: Remotes, tolerate: bool = False,
               health: bool = False, confirm: bool = False, say: Callable[[str], None] | None = None,
               stopping: Callable[[], bool] = lambda: False) -> World:
    """Every host's facts, in parallel. A host that cannot be read raises, or with tolerate (deploy-all)
    is listed in World.unreachable so that only its own containers fail. With health, every running container's
    readiness check runs once at the same time (one more round trip per host, in parallel with the facts: the
    checks do not wait for them). With confirm (deploy-all, which repairs what fails), the checks that failed are
    asked again (look_again): a check that was only slow on a busy host, or a sub-service its own supervisor is
    restarting, does not cost a healthy container a repair, and --dry-run shows what the run would do. `say` tells
    of a wait for a settle bound; `stopping` ends that wait (a signal)."""
    tags = sorted({c.image for c in stack.containers})
    net = inv.network

    def read(host_name: str) -> facts.HostFacts | DockstackError:
        argv = facts.host_facts_argv(f"{LABEL_MANAGED}=true", SERVICE_ROOT, net.bridge, net.vxlan_device,
                                     net.uplink, tags, *facts_wanted(), replica=addressbook.REPLICA_DIR,
                                     catalog=agent.DIGEST_FILE)
        try:
            out = remotes[host_name].run(argv, "read host facts", timeout=step_timeout()).stdout
            found = facts.parse_host_facts(out)
        except DockstackError as exc:
            return exc
        if not found.dockerd:
            said = remotes[host_name].explain(found.dockerd_said) if found.dockerd_said else "`docker version` failed"
            return RemoteError(host_name, "read host facts", f"dockerd on {host_name} is not answering: {said}")
        return found

    limit = health_mod.health_timeout()
    checks = [(c.name, check) for c in stack.containers if (check := stack.role(c.role).check)]

    def check(host_name: str, which: list[tuple[str, str]] = checks,
              bound: float = limit) -> dict[str, health_mod.CheckResult]:
        try:
            return health_mod.read_health(remotes[host_name], f"{LABEL_MANAGED}=true", which, bound)
        except DockstackError:
            return {}  # a host that does not answer: its facts say so

    names = [h.name for h in inv.hosts]
    jobs = [(read, h) for h in names] + ([(check, h) for h in names] if health else [])
    started = time.monotonic()  # the first look
    answers = parallel(jobs, lambda job: job[0](job[1]))
    results = dict(zip(names, answers[:len(names)]))
    checked = {h: a for h, a in zip(names, answers[len(names):]) if h in results and isinstance(a, dict)}
    errors = {h: r for h, r in results.items() if isinstance(r, DockstackError)}
    first_looks: Looks = {}
    passed_later: dict[str, dict[str, tuple[int, float]]] = {}
    if health and confirm:
        first_looks = {h: failed for h, said in checked.items()
                       if (failed := {n: r for n, r in said.items() if r.exit_code != 0})}

        def ask(host_name: str, which: list[str]) -> dict[str, health_mod.CheckResult]:
            return check(host_name, [(n, c) for n, c in checks if n in which], confirm_limit())

        settle = {c.name: stack.role(c.role).settle for c in stack.containers}
        passed_later = look_again(first_looks, checked, ask, settle, started, say, stopping)
    if errors and not tolerate:
        raise next(iter(errors.values()))
    found = {h: (facts.HostFacts({}, {}, {}) if h in errors else r) for h, r in results.items()}
    ds = stack.address_providers()
    if ds and all(d.host in errors for d in ds):
        raise DockstackError(f"the address book cannot be read: {next(errors[d.host] for d in ds)}; nothing was "
                             "changed (every address lives on the dnsmasq hosts)")
    copies = {d.name: replace(found[d.host].books[d.name], host=d.host, folder=service_dir(d))
              for d in stack.address_providers() if d.name in found[d.host].books}
    replicas = {h: replace(r, host=h, folder=addressbook.REPLICA_DIR)
                for h, f in found.items() if (r := f.replica) is not None}
    book, notes = addressbook.merge([*copies.values(), *replicas.values()])
    return World(found, book, copies, tuple(notes), {h: str(e) for h, e in errors.items()}, checked,
                 limit if health else 0.0, first_looks, confirm_limit() if first_looks else 0.0, replicas=replicas,
                 passed_later=passed_later)


def look_again(first_looks: Looks, checked: Looks, ask: Callable[[str, list[str]], dict[str, health_mod.CheckResult]],
               settle: Mapping[str, float], started: float, say: Callable[[str], None] | None = None,
               stopping: Callable[[], bool] = lambda: False) -> dict[str, dict[str, tuple[int, float]]]:
    """deploy-all's later looks at the checks that failed the first: each once more (with confirm_limit(), for a
    check only slow on a busy host), then those whose role has a settle bound (a sub-service its own supervisor
    restarts, as openstack's do) every SETTLE_POLL s until they pass or the bound, from the first look, is over.
    Polling, not a sleep then one look: a blip its supervisor healed costs only the time it took. Each look is one
    round trip per host (`ask`: a host's checks of these containers; {} when the host does not answer). `checked`
    gets each later answer (a container not answered keeps its last); returns, for each that passed, which look and
    when (seconds after the first)."""
    pending = {h: sorted(names) for h, names in first_looks.items()}
    passed: dict[str, dict[str, tuple[int, float]]] = {}
    look = 1
    while pending:
        look += 1
        answers = dict(zip(pending, parallel(list(pending.items()), lambda item: ask(*item))))
        waited = time.monotonic() - started
        following: dict[str, list[str]] = {}
        for h, names in pending.items():
            said = {n: answers[h][n] for n in names if n in answers[h]}
            checked[h] = {**checked[h], **said}
            passed.setdefault(h, {}).update({n: (look, waited) for n, r in said.items() if r.exit_code == 0})
            if again := health_mod.settling(said, settle, waited):
                following[h] = again
        pending = following
        if not pending or stopping():
            break
        names = sorted(n for h in pending for n in pending[h])
        if look == 2 and say is not None:
            say(f"  {', '.join(names)}: the check fails; asked again every {SETTLE_POLL:g}s for up to "
                f"{max(settle[n] for n in names):g}s from the first look (the service's own supervisor may be "
                "restarting a part of it) before any repair")
        time.sleep(health_mod.next_look(names, settle, waited, SETTLE_POLL))
    return {h: p for h, p in passed.items() if p}


def confirm_limit() -> float:
    """The bound of a failed check's second look: CONFIRM_FACTOR times status's, at least CONFIRM_MIN s."""
    return max(CONFIRM_MIN, CONFIRM_FACTOR * health_mod.health_timeout())
