"""The remote shell scripts dockstack sends (`sh -c TEXT sh ARG...`), one .sh file each beside this module.

Kept as files so that shellcheck lints them and the unit tests run them against fake binaries; each module
reads its scripts once, at import, into the constants its callers use (actions.ACTION_SCRIPT, ...).
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def script(name: str) -> str:
    """The text of the shipped script NAME (`action.sh`), read once: its constant is sent as it is."""
    if "/" in name or not name.endswith(".sh"):
        raise ValueError(f"{name!r} is not the file name of a script in dockstack/scripts (NAME.sh)")
    try:
        return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"dockstack/scripts/{name} is missing: dockstack ships its remote shell scripts "
                                "as files beside dockstack/scripts/__init__.py (reinstall or restore the file)"
                                ) from None
