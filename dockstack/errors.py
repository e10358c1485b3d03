"""One exception root, so tasks.py can turn every expected failure into a clean exit."""

from __future__ import annotations


class DockstackError(Exception):
    """Base of every error dockstack reports to the user (no traceback)."""


PROBLEM_MAX = 1000  # characters of a config error's problem text


class ConfigError(DockstackError):
    """A configuration file is wrong: names the file, the key, the problem and the fix."""

    def __init__(self, path: str, key: str, problem: str, fix: str = "") -> None:
        if len(problem) > PROBLEM_MAX:  # it quotes a value: a 100 KB one is cut, not printed whole
            problem = f"{problem[:PROBLEM_MAX - 100]}...({len(problem)} characters)...{problem[-60:]}"
        self.path, self.key, self.problem, self.fix = path, key or "(file)", problem, fix
        msg = f"{path}: {self.key}: {problem}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class PrerequisiteError(DockstackError):
    """The local machine lacks something (root, a program) that an action needs."""


class RemoteError(DockstackError):
    """A command on a Docker host failed: names the host, the step and what it said."""

    def __init__(self, host: str, step: str, detail: str) -> None:
        self.host, self.step, self.detail = host, step, detail
        super().__init__(f"{host}: {step} failed: {detail.strip()}")
