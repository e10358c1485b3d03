"""When the stack's CA may be made (dockstack.cacheck): only for a new stack, or on the operator's word (`inv
tls.init`); a load that made one for a stack the facts show deployed is refused, naming the folder and the fix. The
commands that refuse it, and that they change nothing: tests/unit/test_orchestration.py (the TLS part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockstack import cacheck
from dockstack.errors import DockstackError
from dockstack.facts import ContainerState, HostFacts
from dockstack.services import SERVICE_ROOT


def tls_stack(cfg):
    """dns (h1), lb1 (h2): haproxy balancing api1's HTTP port (h1): a stack with a CA; its folder not made yet."""
    image = cfg.containers["containers"][0]["image"]
    cfg.containers["roles"] = [{"name": "dnsmasq", "service": "dnsmasq"}, {"name": "lb", "service": "haproxy"},
                               {"name": "api", "balance": [{"name": "api", "port": 5000, "mode": "http"}]}]
    cfg.containers["containers"] = [cfg.containers["containers"][0],
                                    {"name": "lb1", "role": "lb", "host": "h2", "image": image},
                                    {"name": "api1", "role": "api", "host": "h1", "image": image}]
    return cfg.load()[1]


def host(*names: str, files: tuple[str, ...] = ()) -> HostFacts:
    return HostFacts({n: ContainerState(n, True, 7, "test/base:bookworm", "sha256:1", {}) for n in names}, {}, {},
                     files={f: "0" * 64 for f in files})


SERVED = f"{SERVICE_ROOT}/haproxy/lb1/tls.pem"


@pytest.mark.parametrize(("hosts", "unreachable", "said"), [
    ({"h1": host("dns", "api1"), "h2": host()}, (), "(its containers api1, dns exist)"),
    ({"h1": host(), "h2": host("lb1", files=(SERVED,))}, (),
     "(its containers lb1 exist; lb1 keeps a certificate of its CA (tls.pem))"),
    ({"h1": host(), "h2": host(files=(SERVED,))}, (), "(lb1 keeps a certificate of its CA (tls.pem))"),  # destroyed
    ({"h1": host(), "h2": host()}, ("h2",), "(h2 did not answer, so it may hold either)"),
])
def test_a_ca_made_for_a_stack_that_is_not_new_is_refused_naming_the_folder_and_the_fix(cfg, hosts, unreachable,
                                                                                         said):
    stack = tls_stack(cfg)
    folder = Path(stack.tls.path)
    with pytest.raises(DockstackError) as err:
        cacheck.check_ca(stack, hosts, unreachable)
    message = str(err.value)
    assert message.startswith(f"{folder}: the stack's CA (ca.crt, ca.key) is missing, but the stack is deployed "
                              f"{said}: restore the folder from your backup to {folder}. "), message
    assert "`inv tls.init` makes one" in message and message.endswith("Nothing was changed")
    assert not folder.exists()


def test_a_new_stack_may_use_the_ca_its_load_made(cfg):
    """No container of the stack anywhere (another stack's containers say nothing about this one), every host
    answered: the first deploy-all or create saves it."""
    stack = tls_stack(cfg)
    cacheck.check_ca(stack, {"h1": host("other-dns"), "h2": host()})
    assert stack.tls.new_ca()


def test_a_ca_read_from_its_folder_is_never_refused(cfg):
    stack = tls_stack(cfg)
    stack.tls.save()
    for s in (stack, cfg.load()[1]):  # the load that made it, once saved; a later load, which read it
        assert not s.tls.new_ca()
        cacheck.check_ca(s, {"h1": host("dns", "api1"), "h2": host("lb1", files=(SERVED,))}, ("h3",))


def test_tls_init_refuses_a_stack_without_tls(cfg):
    _, stack = cfg.load()  # no role balances an http port
    assert stack.tls is None
    with pytest.raises(DockstackError, match=r"containers\.yaml: no role balances a service with mode http"):
        cacheck.init(stack)


def test_tls_init_saves_only_the_tls_folder_never_the_passwords(cfg):
    """A secrets file written by tls.init would hold new passwords, which the next command's secrets check would
    then report as changed rather than missing: the passwords are saved by the commands that check them first."""
    tls_stack(cfg)
    cfg.containers["roles"].append({"name": "cache", "service": "redis"})
    cfg.containers["containers"].append({"name": "cache1", "role": "cache", "host": "h1",
                                         "image": cfg.containers["containers"][0]["image"]})
    stack = cfg.load()[1]
    said = cacheck.init(stack)
    assert said.startswith(f"{stack.tls.path}: a new CA for the stack (ca.crt, ca.key)")
    assert sorted(p.name for p in Path(stack.tls.path).iterdir()) == ["ca.crt", "ca.key", "vip.crt", "vip.key"]
    assert not Path(stack.generated.path).exists()
