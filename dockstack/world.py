"""What a command knows before it acts: every host's facts and the address book, read once.

One round trip per host (facts.HOST_FACTS_SCRIPT, in parallel); the address book comes with the
facts: the copies in dnsmasq's folders and every host's replica, merged (the newest generation wins).
Nothing re-lists containers afterwards: the converge's ledger keeps this picture current from what its own
actions report.
"""

from __future__ import annotations

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

    def health(self, stack: Stack, name: str, host: str) -> health_mod.Health:
        """A container's health on a host, from the checks this world read (none read: not checked)."""
        state = self.hosts[host].containers.get(name) if host in self.hosts else None
        running, check = bool(state and state.running), stack.role(stack.container(name).role).check
        first = self.first_looks.get(host, {}).get(name)  # set: `checks` holds its second look's answer
        said = health_mod.health_of(running, check, self.checks.get(host, {}).get(name),
                                    self.check_limit if first is None else self.confirm_limit, stack.mask)
        if first is None or said.state != health_mod.PASS:
            return said
        failed = health_mod.health_of(running, check, first, self.check_limit, stack.mask)
        return health_mod.Health(health_mod.PASS, f"passes on a second look (it failed: {failed.detail})")

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
               health: bool = False, confirm: bool = False) -> World:
    """Every host's facts, in parallel. A host that cannot be read raises, or with tolerate (deploy-all)
    is listed in World.unreachable so that only its own containers fail. With health, every running container's
    readiness check runs once at the same time (one more round trip per host, in parallel with the facts: the
    checks do not wait for them). With confirm (deploy-all, which repairs what fails), every check that failed
    runs once more with a longer bound (confirm_limit()), in parallel on each host: a check that was only slow on a
    busy host does not cost a healthy container a restart, and --dry-run shows what the run would do."""
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
    answers = parallel(jobs, lambda job: job[0](job[1]))
    results = dict(zip(names, answers[:len(names)]))
    checked = {h: a for h, a in zip(names, answers[len(names):]) if h in results and isinstance(a, dict)}
    errors = {h: r for h, r in results.items() if isinstance(r, DockstackError)}
    first_looks: dict[str, dict[str, health_mod.CheckResult]] = {}
    if health and confirm:
        first_looks = {h: failed for h, said in checked.items()
                       if (failed := {n: r for n, r in said.items() if r.exit_code != 0})}
        again = dict(zip(first_looks, parallel(list(first_looks), lambda h: check(
            h, [(n, c) for n, c in checks if n in first_looks[h]], confirm_limit()))))
        for h, said in again.items():
            checked[h] = {**checked[h], **{n: said.get(n, first_looks[h][n]) for n in first_looks[h]}}
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
                 limit if health else 0.0, first_looks, confirm_limit() if first_looks else 0.0, replicas=replicas)


def confirm_limit() -> float:
    """The bound of a failed check's second look: CONFIRM_FACTOR times status's, at least CONFIRM_MIN s."""
    return max(CONFIRM_MIN, CONFIRM_FACTOR * health_mod.health_timeout())
