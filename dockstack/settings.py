"""Every DOCKSTACK_* environment setting, read here and nowhere else: the time bounds an operator may change, the
image cache and the trace file. Time bounds are read when used (never at import), so a test or a wrapper may
set them at any time; a bad value is a DockstackError naming the variable."""

from __future__ import annotations

import math
import os
from pathlib import Path

from dockstack.errors import DockstackError

STEP_TIMEOUT_ENV, STEP_TIMEOUT = "DOCKSTACK_STEP_TIMEOUT", 60.0  # a plain remote step
DHCP_TIMEOUT_ENV, DHCP_TIMEOUT = "DOCKSTACK_DHCP_TIMEOUT", 30  # the host's udhcpc, for one lease
AGENT_TIMEOUT_ENV, AGENT_TIMEOUT = "DOCKSTACK_AGENT_TIMEOUT", 300  # one Puppet agent run, on top of an action's bound
HEALTH_TIMEOUT_ENV, HEALTH_TIMEOUT = "DOCKSTACK_HEALTH_TIMEOUT", 5.0  # one readiness check of `inv status`
LOCK_TIMEOUT_ENV, LOCK_TIMEOUT = "DOCKSTACK_LOCK_TIMEOUT", 60.0  # waiting for another run's lock on the address book
# galera.backup: the longest wait for the stream's next bytes; galera.restore: its upload and `--prepare`
BACKUP_TIMEOUT_ENV, BACKUP_TIMEOUT = "DOCKSTACK_BACKUP_TIMEOUT", 1800.0
CACHE_ENV, CACHE = "DOCKSTACK_CACHE", "/var/cache/dockstack"  # built images and read archives
TRACE_ENV = "DOCKSTACK_TRACE"  # a file to append one JSON line per SSH connection and round trip to
# the Puppet modules shipped to the server (default: the repository's puppet/modules): a copy of them changed
PUPPET_MODULES_ENV = "DOCKSTACK_PUPPET_MODULES"


def seconds_from_env(env: str, default: float) -> float:
    """A time bound the operator may change through the environment."""
    raw = os.environ.get(env, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not 0 < value < 86400:
        raise DockstackError(f"{env}={raw!r} is not a number of seconds (0-86400): unset it or fix it")
    return value


def step_timeout() -> float:
    """Seconds a plain remote step may take before its host counts as not answering."""
    return seconds_from_env(STEP_TIMEOUT_ENV, STEP_TIMEOUT)


def dhcp_timeout() -> int:
    return math.ceil(seconds_from_env(DHCP_TIMEOUT_ENV, DHCP_TIMEOUT))


def agent_timeout() -> int:
    return math.ceil(seconds_from_env(AGENT_TIMEOUT_ENV, AGENT_TIMEOUT))


def health_timeout() -> float:
    return seconds_from_env(HEALTH_TIMEOUT_ENV, HEALTH_TIMEOUT)


def lock_timeout() -> float:
    return seconds_from_env(LOCK_TIMEOUT_ENV, LOCK_TIMEOUT)


def backup_timeout() -> float:
    """Seconds a galera backup may wait for its next bytes, and a restore's upload and prepare may take."""
    return seconds_from_env(BACKUP_TIMEOUT_ENV, BACKUP_TIMEOUT)


def cache_dir() -> Path:
    """Where built images and read archives are kept (shared by every clone on the machine)."""
    return Path(os.environ.get(CACHE_ENV) or CACHE)


def trace_file() -> str | None:
    """The trace file the round-trip tests and the benchmark ask for, if any."""
    return os.environ.get(TRACE_ENV) or None


def puppet_modules() -> Path | None:
    """The folder of Puppet modules an operator has the Puppet server given instead of the repository's (None: the
    repository's); a DockstackError when it is no folder."""
    raw = os.environ.get(PUPPET_MODULES_ENV, "")
    if not raw:
        return None
    if not Path(raw).is_dir():
        raise DockstackError(f"{PUPPET_MODULES_ENV}={raw!r} is no folder: point it to a folder of Puppet modules "
                             "(like the repository's puppet/modules) or unset it")
    return Path(raw)
