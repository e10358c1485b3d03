"""The secrets file: passwords dockstack makes itself for the services that need them (their secret_files),
kept beside containers.yaml and never in it. Loading only reads it; the commands that start containers write the
passwords a load made (keep_generated_secrets)."""

from __future__ import annotations

import os
import secrets as secrets_module
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dockstack import yamlfile
from dockstack.config.definition import ServiceDefinition
from dockstack.config.grammar import GENERATED_RE
from dockstack.errors import ConfigError


def generated_keys(definitions: Iterable[ServiceDefinition]) -> tuple[str, ...]:
    """The secrets file's keys: every password some service's containers get from it (its secret_files)."""
    return tuple(sorted({k for d in definitions for k, _ in d.secret_files}))


def retired_keys(definitions: Iterable[ServiceDefinition]) -> tuple[str, ...]:
    """Keys an older dockstack wrote into the secrets file that no service uses any more (their retired_secrets)."""
    return tuple(sorted({k for d in definitions for k in d.retired_secrets}))


@dataclass(frozen=True)
class GeneratedSecrets:
    """Passwords dockstack made itself (secrets_file_for): never in containers.yaml, so never committed."""

    path: str
    values: dict[str, str]
    made: tuple[str, ...] = ()  # keys made by this load, not yet in the file: save() writes them
    found: bool = True  # whether the file was there when loaded (secretcheck: "missing" rather than "lacks keys")

    def files_for(self, service: ServiceDefinition | None) -> tuple[tuple[str, str], ...]:
        """(file name, value): the secret files a container of this service gets from the secrets file (none for a
        role without a service)."""
        return tuple((name, self.values[k]) for k, name in (service.secret_files if service else ()))

    def save(self) -> bool:
        """Write the file with the passwords made by this load, readable by its owner only (0600); called by the
        commands that start containers with them, never by loading. False when there was nothing to write."""
        if not self.made:
            return False
        stack_file = Path(self.path).name.replace(".secrets.yaml", ".yaml")
        text = (f"# Passwords dockstack generated for this stack ({stack_file}): keep this file, never commit it.\n"
                + yaml.safe_dump(self.values, sort_keys=True))
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise ConfigError(self.path, "", f"cannot write it: {exc.strerror}",
                              "make its folder writable, or create the file yourself") from None
        return True


def secrets_file_for(containers_file: Path) -> Path:
    """containers.yaml -> containers.secrets.yaml beside it (git-ignored: `*.secrets.yaml`)."""
    return containers_file.with_name(containers_file.stem + ".secrets.yaml")


def generated_secrets(containers_file: Path, keys: tuple[str, ...], retired: tuple[str, ...] = ()) -> GeneratedSecrets:
    """The stack's generated passwords (`keys`: generated_keys of the services dockstack runs; `retired`: keys an
    older dockstack made, which the file may still hold and which are left out): read from the secrets file, the
    missing ones made (random, 32 characters) in memory: loading never writes; the commands that start containers
    with them save() them (keep_generated_secrets). They reach a container as files only root reads in it
    (config.SECRETS_MOUNT), and the stack masks them (Stack.secret_values), so no output, label or log shows them."""
    path = secrets_file_for(containers_file)
    data: dict[str, Any] = {}
    found = path.exists() or path.is_symlink()
    if found:
        data = yamlfile.load(path)
        if not isinstance(data, dict):
            raise ConfigError(str(path), "(file)", f"is not a mapping of KEY: VALUE lines, but a {type(data).__name__}",
                              "fix it, or delete it to have it made again (deleting it makes new passwords, which "
                              "a running cluster does not have)")
        unknown = sorted((k for k in data if k not in keys and k not in retired), key=str)
        if unknown:
            raise ConfigError(str(path), str(unknown[0]), "unknown key (a misspelt key would have a new password "
                              "made beside it)", f"allowed keys: {', '.join(keys)}")
    for k in keys:
        v = data.get(k)
        if v is not None and not (isinstance(v, str) and GENERATED_RE.fullmatch(v)):
            raise ConfigError(str(path), k, "is not 24-128 letters and digits",
                              "put such a value there, or delete the key to have one made")
    missing = tuple(k for k in keys if data.get(k) is None)
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    data.update({k: "".join(secrets_module.choice(alphabet) for _ in range(32)) for k in missing})
    return GeneratedSecrets(str(path), {k: str(data[k]) for k in keys}, missing, found)
