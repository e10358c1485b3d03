"""Health: every running container's readiness check, run once, in one round trip per host (HEALTH_SCRIPT),
and pure functions that turn what the host said into a container's health.

The same check deploy-all waits for (`docker exec NAME sh -c CHECK`), run once instead of polled: `inv status`
shows whether what is up still works. The checks of one host run concurrently, each bounded by
DOCKSTACK_HEALTH_TIMEOUT, so a host with twelve containers answers within one bound, and a check that hangs
cannot hang status.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dockstack.remote import Remote
from dockstack.scripts import script
from dockstack.settings import HEALTH_TIMEOUT, health_timeout, step_timeout  # noqa: F401 (re-exported)

PASS, FAIL, NONE, NO_SERVICE = "pass", "fail", "none", "no service"
DETAIL_CHARS = 200  # a failing check's line as shown: one printable line at most this long
LINE_BYTES = 4096  # the most of that line a host sends back
OUTPUT_BYTES = 65536  # the most of a check's output a host keeps (the end of it: the last line is what counts)
TIMED_OUT = (124, 137)  # timeout(1)'s exit codes: it timed out (TERM), or it had to KILL

# Constant text; values arrive as arguments: label, the per-check bound, the host-side bound (a container
# without timeout(1) still cannot hold its `docker exec` longer), the output window, the line window, then
# NAME CHECK pairs. Only dockstack containers (by label) that run get a check; each check runs in the
# background with its output cut to the window's end, all are waited for, then one line per container:
# `health NAME EXIT BASE64-OF-ITS-LAST-NONBLANK-LINE` (`-` for no line). A line cut by the output window's
# start is dropped (a part of a line could be a part of a secret, which masking would not recognise).
# The text: dockstack/scripts/health.sh.
HEALTH_SCRIPT = script("health.sh")


@dataclass(frozen=True)
class CheckResult:
    """What one run of a container's check said: its exit code and its last non-blank output line (raw)."""

    exit_code: int
    line: str


@dataclass(frozen=True)
class Health:
    """A container's health: pass, fail (detail: the check's last line), none (not running: not checked) or
    no service (its role has no readiness check: nothing dockstack could check)."""

    state: str
    detail: str = ""

    def show(self) -> str:
        return f"{self.state}: {self.detail}" if self.detail else self.state


def health_argv(label: str, checks: Sequence[tuple[str, str]], limit: float) -> list[str]:
    """The one command that runs these (name, check) pairs on a host; names and checks come from the validated
    config, limit from health_timeout()."""
    pairs = [x for name, check in checks for x in (name, check)]
    return ["sh", "-c", HEALTH_SCRIPT, "sh", label, f"{limit:g}", str(math.ceil(limit) + 2), str(OUTPUT_BYTES),
            str(LINE_BYTES), *pairs]


def parse_health(text: str) -> dict[str, CheckResult]:
    """name -> result, from HEALTH_SCRIPT's output; lines that are not its own are ignored."""
    out = {}
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) != 4 or parts[0] != "health" or not parts[2].isdigit():
            continue
        try:
            said = "" if parts[3] == "-" else base64.b64decode(parts[3], validate=True).decode(errors="replace")
        except (binascii.Error, ValueError):
            said = ""
        out[parts[1]] = CheckResult(int(parts[2]), said)
    return out


def one_line(text: str, limit: int = DETAIL_CHARS) -> str:
    """Any text as one printable line of at most limit characters: control characters become '?', tabs a
    space (a check's output can hold anything, and it ends up in a table on a terminal)."""
    clean = "".join(" " if ch == "\t" else ch if ch.isprintable() else "?" for ch in text).strip()
    return clean if len(clean) <= limit else clean[:limit - 3] + "..."


PAUSED = "paused (`docker pause`): every process in it is frozen, nothing it serves answers"


def health_of(running: bool, check: str | None, result: CheckResult | None, limit: float,
              mask: Callable[[str], str], paused: bool = False) -> Health:
    """A container's health from its state, its role's check and what that check said. A paused container fails
    whatever its role checks (Docker counts it running; its check would only hang). The line is masked before it
    is cut, so a cut can never leave a part of a secret that masking would miss."""
    if not running:
        return Health(NONE)
    if paused:
        return Health(FAIL, PAUSED)
    if not check:
        return Health(NO_SERVICE)
    if result is None:  # it was not running on its host when the checks ran (stopped in between)
        return Health(NONE, "not checked: not running when the checks ran")
    if result.exit_code == 0:
        return Health(PASS)
    said = one_line(mask(result.line))
    if result.exit_code in TIMED_OUT:
        return Health(FAIL, f"no answer within {limit:g}s" + (f": {said}" if said else ""))
    return Health(FAIL, said or f"exit code {result.exit_code}, no output")


def settling(results: Mapping[str, CheckResult], settle: Mapping[str, float], waited: float) -> list[str]:
    """The containers whose check still fails `waited` s after the first look while their settle bound (how long a
    failure may be a blip their service's own supervisor heals) has not passed: asked again, in name order."""
    return sorted(n for n, r in results.items() if r.exit_code != 0 and waited < settle.get(n, 0.0))


def next_look(pending: Iterable[str], settle: Mapping[str, float], waited: float, poll: float) -> float:
    """Seconds until the next look at the `pending` checks: `poll`, but never past the last of their bounds."""
    left = max((settle.get(n, 0.0) - waited for n in pending), default=0.0)
    return max(0.0, min(poll, left))


def read_health(remote: Remote, label: str, checks: Sequence[tuple[str, str]],
                limit: float) -> dict[str, CheckResult]:
    """Run the checks of the dockstack containers running on one host: one round trip (none without checks)."""
    if not checks:
        return {}
    out = remote.run(health_argv(label, checks, limit), "run readiness checks",
                     timeout=step_timeout() + math.ceil(limit) + 3).stdout
    return parse_health(out)
