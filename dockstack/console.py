"""The operator's terminal: output that outlives its reader.

`inv deploy-all | head -3` closes the pipe while the run goes on. Python then raises BrokenPipeError at the next
write, which would end a run half-done, in a traceback; and `inv --list | head` would end in one from Invoke's own
printing. Once the reader is gone, the rest of the output goes to /dev/null instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO


class ReaderGoneTolerant:
    """A stand-in for sys.stdout: writes as it does, until the reader is gone; from then on fd 1 is /dev/null."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        """fd 1 becomes /dev/null: the buffered rest, later lines and the flush at exit all find a file there."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def tolerate_a_closed_stdout() -> None:
    """Put the stand-in in place (once): what dockstack and Invoke print goes through it."""
    if not isinstance(sys.stdout, ReaderGoneTolerant):
        sys.stdout = ReaderGoneTolerant(sys.stdout)  # type: ignore[assignment]
