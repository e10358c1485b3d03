"""Secret fingerprints: a deployed stack whose secrets file is missing or differs is refused before anything changes.

Every container dockstack creates carries, in the LABEL_SECRETS label, a short salted SHA-256 of each password it
got from the secrets file (config.secrets), never the value. A command that would start containers with those
passwords (deploy-all, its dry run included, create, start) compares the loaded secrets with the labels of the
stack's containers, from the facts it has already read (no extra round trip), and refuses when a key the deployed
containers carry is missing from the file or has another value: the services' data (MariaDB's users, Redis's
clients, ...) holds the old passwords, which containers made with new ones would be locked out of. Keys no deployed
container carries (a new service) are fine. Rotating a password on purpose is not supported.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dockstack.config import Container, GeneratedSecrets, Stack
from dockstack.errors import DockstackError
from dockstack.facts import HostFacts
from dockstack.services import SERVICE_ROOT

LABEL_SECRETS = "org.dockstack.secrets"  # {secrets file key: fingerprint} of the passwords it was created with
# The same for every stack: a container's fingerprints do not change when containers.yaml is renamed or moved.
# Generated values are 24-128 random letters and digits (config.GENERATED_RE), so 64 bits of a salted digest
# say "same or not" and give nothing to guess from.
SALT = b"dockstack secret fingerprint 1\0"
KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")  # a secrets file key, as the services' definitions name them
FINGERPRINT_RE = re.compile(r"[0-9a-f]{16}")
KEYS_MAX = 64  # a label with more keys than any stack has is not one dockstack wrote
LABEL_MAX = 4096
SHOWN_MAX = 8  # names listed in a message before "and N more"


def fingerprint(key: str, value: str) -> str:
    """Whether a container got this value for this key, without the value: the key is in the digest, so two keys
    with the same value do not share a fingerprint."""
    return hashlib.sha256(SALT + key.encode() + b"\0" + value.encode()).hexdigest()[:16]


def secrets_label(c: Container) -> str | None:
    """The LABEL_SECRETS value for a container about to be created: compact JSON, keys sorted; None when it gets
    no password from the secrets file (then it carries no such label)."""
    if not c.generated:
        return None
    return json.dumps({k: fingerprint(k, v) for k, v in c.generated}, sort_keys=True, separators=(",", ":"))


def parse_label(text: str) -> dict[str, str] | None:
    """A LABEL_SECRETS value read back from a host: {key: fingerprint}, each checked whole; None when it is not
    what secrets_label writes (it was edited outside dockstack), which the caller refuses."""
    if len(text) > LABEL_MAX:
        return None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or len(data) > KEYS_MAX:
        return None
    if not all(isinstance(v, str) and KEY_RE.fullmatch(k) and FINGERPRINT_RE.fullmatch(v) for k, v in data.items()):
        return None
    return dict(data)


def deployed_fingerprints(stack: Stack, hosts: Mapping[str, HostFacts]) -> dict[tuple[str, str], dict[str, str]]:
    """(host, name) -> its fingerprints, for every existing container of the stack (any host, running or not) that
    carries them. Containers of names the config does not list belong to no stack this file makes, and are left
    out (a stale or another stack's container says nothing about this secrets file)."""
    names = {c.name for c in stack.containers}
    out: dict[tuple[str, str], dict[str, str]] = {}
    for host, f in hosts.items():
        for name, state in f.containers.items():
            text = state.labels.get(LABEL_SECRETS)
            if name not in names or text is None:
                continue
            found = parse_label(text)
            if found is None:
                raise DockstackError(
                    f"{name} on {host}: its label {LABEL_SECRETS} is not what dockstack writes (a JSON object of at "
                    f"most {KEYS_MAX} secret key names, each to 16 hex digits): it was changed outside dockstack, so "
                    f"the secrets file {stack.generated.path if stack.generated else ''} cannot be checked against "
                    f"it; `inv remove --name={name}` (its data folders stay) and run this again to create it anew. "
                    "Nothing was changed")
            out[(host, name)] = found
    return out


@dataclass(frozen=True)
class Mismatch:
    """What the secrets file lacks or holds otherwise than the deployed containers were made with: key ->
    the names of the containers that carry it."""

    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)  # not in the file: this load made a new one
    differs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # in the file with another value

    def __bool__(self) -> bool:
        return bool(self.missing or self.differs)


def compare(secrets: GeneratedSecrets, deployed: Mapping[tuple[str, str], Mapping[str, str]]) -> Mismatch:
    """The pure comparison: each key a deployed container carries against the loaded value. A key the stack's
    services no longer have (not among secrets.values) is not this file's to check."""
    missing: dict[str, set[str]] = {}
    differs: dict[str, set[str]] = {}
    for (_host, name), prints in deployed.items():
        for key, old in prints.items():
            if key not in secrets.values:
                continue
            if key in secrets.made:
                missing.setdefault(key, set()).add(name)
            elif fingerprint(key, secrets.values[key]) != old:
                differs.setdefault(key, set()).add(name)
    return Mismatch({k: tuple(sorted(v)) for k, v in sorted(missing.items())},
                    {k: tuple(sorted(v)) for k, v in sorted(differs.items())})


def listed(names: Iterable[str]) -> str:
    """names, comma-separated, at most SHOWN_MAX of them (a stack has a dozen keys: the message stays readable)."""
    items = list(names)
    shown = ", ".join(items[:SHOWN_MAX])
    return shown + (f" and {len(items) - SHOWN_MAX} more" if len(items) > SHOWN_MAX else "")


def _carriers(keys: Mapping[str, tuple[str, ...]]) -> str:
    return listed(sorted({n for names in keys.values() for n in names}))


def refusal(secrets: GeneratedSecrets, mismatch: Mismatch) -> str | None:
    """The error for a mismatch (None for none): the file, the key names (never a value), what is wrong and how
    to put it right."""
    if not mismatch:
        return None
    path = secrets.path
    old_data = ("the deployed stack's data holds the old values, which containers made with new ones would be locked "
                "out of, and changing them is not supported")
    if not secrets.found:
        keys = {**mismatch.missing, **mismatch.differs}
        return (f"{path}: missing, but the deployed stack was made with it (containers {_carriers(keys)} carry its "
                f"keys {listed(sorted(keys))}): restore it from your backup to {path}; {old_data} (or, only if that "
                f"data may be lost: `inv remove` those containers and delete their folders under {SERVICE_ROOT} on "
                "their hosts, then run this again). Nothing was changed")
    parts = []
    if mismatch.missing:
        parts.append(f"has no {listed(mismatch.missing)}, but the deployed stack was made with "
                     f"{'it' if len(mismatch.missing) == 1 else 'them'} (containers {_carriers(mismatch.missing)})")
    if mismatch.differs:
        one = len(mismatch.differs) == 1
        parts.append(f"{listed(mismatch.differs)} {'differs' if one else 'differ'} from the "
                     f"{'value' if one else 'values'} the deployed stack was made with (containers "
                     f"{_carriers(mismatch.differs)} carry the old {'one' if one else 'ones'})")
    return (f"{path}: {'; and '.join(parts)}: put the old values back (restore the file from your backup to "
            f"{path}); {old_data}. Nothing was changed")


def check_deployed(stack: Stack, hosts: Mapping[str, HostFacts]) -> None:
    """Before a command starts containers with the secrets file's passwords (and before it writes that file):
    raise when the file is missing or differs from what the stack's existing containers were made with."""
    if stack.generated is None:  # no container of the config gets a password from the file
        return
    problem = refusal(stack.generated, compare(stack.generated, deployed_fingerprints(stack, hosts)))
    if problem:
        raise DockstackError(problem)

