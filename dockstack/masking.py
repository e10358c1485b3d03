"""Masking of secret values in text dockstack prints or raises.

Which values are secret is decided in one place (config.is_secret); this module only hides them. dockstack
itself never formats a secret value into a message; the mask is the safety net for text that comes from
elsewhere (what docker, a container's logs or its readiness check said).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable

MASK = "***"
# Shorter values are not masked in free text: hiding every "on" or "42" would garble names and addresses
# without hiding anything a reader could not guess. dockstack's own messages never show them either way.
MIN_MASKED = 4


def forms(value: str) -> set[str]:
    """The ways a value can be written into text: as is, inside repr() or JSON (escaped), shell-quoted."""
    return {value, repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
            shlex.quote(value)}


def mask(text: str, values: Iterable[str]) -> str:
    """text with each form of each value (of at least MIN_MASKED characters) replaced by MASK, longest first."""
    for form in sorted({f for v in values if len(v) >= MIN_MASKED for f in forms(v)}, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text
