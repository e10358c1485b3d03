"""The stack's CA is made on purpose only: for a new stack, or when the operator asks for one (`inv tls.init`).

Loading a stack whose TLS folder (config.tls: `containers.tls/`) holds no CA makes one in memory. Were it used, the
next command that publishes haproxy's files (a stop, a remove, a start ...) would serve a certificate of a CA no
client trusts. So every command that changes the hosts (each opens a converge session: converge.open_session; and
deploy-all before its dry run, galera.restore before its first step) refuses such a CA from the facts it has read,
before it changes anything, unless the stack is new: every host answered, and none holds a container the config
lists or a balancer's served certificate (`tls.pem`, which destroy-all leaves in the balancer's folder). The first
deploy-all (or create) of a new stack saves it with the generated passwords (config.keep_generated_secrets).
`inv tls.init` makes and saves a CA on the operator's word: a stack deployed before it had one, or a rotation.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from dockstack.config import Stack, tls
from dockstack.errors import DockstackError
from dockstack.facts import HostFacts
from dockstack.secretcheck import listed
from dockstack.services import service_dir

ROTATING = "docs/security.md, TLS on the VIP"


def deployed_evidence(stack: Stack, hosts: Mapping[str, HostFacts], unreachable: Collection[str]) -> list[str]:
    """What says the stack is not new, each as a phrase (none: it is new): its containers on a host, a balancer's
    served certificate left in its folder, a host that did not answer (it may hold either)."""
    names = {c.name for c in stack.containers}
    existing = sorted({n for f in hosts.values() for n in f.containers if n in names})
    serving = [c.name for c in stack.containers if c.definition and c.definition.provides_vip and c.host in hosts
               and f"{service_dir(c)}/{tls.SERVED_FILE}" in hosts[c.host].files]
    out = []
    if existing:
        out.append(f"its containers {listed(existing)} exist")
    if serving:
        out.append(f"{listed(serving)} keep{'s' if len(serving) == 1 else ''} a certificate of its CA "
                   f"({tls.SERVED_FILE})")
    if unreachable:
        out.append(f"{listed(sorted(unreachable))} did not answer, so {'it' if len(unreachable) == 1 else 'they'} "
                   "may hold either")
    return out


def check_ca(stack: Stack, hosts: Mapping[str, HostFacts], unreachable: Collection[str] = ()) -> None:
    """Before a command changes anything: raise when this load made the stack's CA (its folder holds none) while the
    stack is not new (deployed_evidence), naming the folder and the fix."""
    if stack.tls is None or not stack.tls.new_ca():
        return
    evidence = deployed_evidence(stack, hosts, unreachable)
    if not evidence:
        return
    path = stack.tls.path
    raise DockstackError(
        f"{path}: the stack's CA ({tls.CA_FILE}, {tls.CA_KEY}) is missing, but the stack is deployed "
        f"({'; '.join(evidence)}): restore the folder from your backup to {path}. A new CA would break every client "
        "that trusts the old one (the openstack containers, admin-openrc's OS_CACERT, whoever was given its "
        f"{tls.CA_FILE}), so dockstack makes one by itself only for a new stack (no container of it on any host). If "
        f"this stack never had a CA, or to replace it on purpose, `inv tls.init` makes one: see {ROTATING}. "
        "Nothing was changed")


def init(stack: Stack) -> str:
    """`inv tls.init`: save the CA (and the VIP's certificate it signs) this load made, on the operator's word;
    refused when the stack has one already, or terminates no TLS. Only local files: no host is asked or changed
    (the next deploy-all serves the new certificate). Returns what was done, for the operator."""
    if stack.tls is None:
        raise DockstackError(f"{stack.path}: no role balances a service with mode http, so haproxy terminates no "
                             "TLS and the stack has no CA to make")
    path = stack.tls.path
    if not stack.tls.new_ca():
        raise DockstackError(f"{path}: holds the stack's CA already ({tls.CA_FILE}, {tls.CA_KEY}); nothing made. To "
                             f"replace it (a rotation), move the folder away first: see {ROTATING}")
    stack.tls.save()  # the TLS folder only: passwords this load made are the commands' to save (secretcheck first)
    return (f"{path}: a new CA for the stack ({tls.CA_FILE}, {tls.CA_KEY}) and the VIP's certificate it signs "
            f"({tls.CERT_FILE}, {tls.CERT_KEY}): back the folder up with the secrets file and give clients its "
            f"{tls.CA_FILE}; `inv deploy-all` puts the certificate on the VIP (see {ROTATING})")
