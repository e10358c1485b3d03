"""The shell scripts dockstack renders from templates/ for the shipped stack (containers.yaml, hosts.yaml): every one
is shellcheck clean, names its shell on its first line and is run with that shell, and no `.sh.j2` template renders
into a file that escapes the check. A script's own unit tests (test_galera, test_openstack...) run it; this one lints
whatever every definition pushes, so a new template or a new file is checked without a test of its own."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from dockstack import render as render_module
from dockstack.config import DEFAULT_CONTAINERS_FILE, Inventory, Stack
from dockstack.render import TEMPLATES
from dockstack.services import puppet as puppet_service
from dockstack.services.base import Context
from dockstack.services.registry import DEFINITIONS, definition

SHELLS = ("sh", "bash", "dash")  # what a first line `#!/bin/SHELL` (or `#!/usr/bin/env SHELL`) may name


def service_containers() -> list[str]:
    """The shipped containers whose role has a service, in config order, read from containers.yaml alone: at
    collection no secrets file may be read (test_every_service_container_is_linted holds this to the loader)."""
    data = yaml.safe_load(Path(DEFAULT_CONTAINERS_FILE).read_text())
    served = {r["name"] for r in data["roles"] if r.get("service")}
    return [c["name"] for c in data["containers"] if c["role"] in served]


SERVICE_CONTAINERS = service_containers()


@dataclass
class RecordingEnv:
    """Stands in for dockstack.render's jinja environment: renders as it does, and keeps each (template, text)."""

    env: jinja2.Environment
    rendered: list[tuple[str, str]] = field(default_factory=list)

    def get_template(self, name: str) -> RecordingTemplate:
        return RecordingTemplate(name, self.env.get_template(name), self.rendered)


@dataclass
class RecordingTemplate:
    name: str
    template: jinja2.Template
    rendered: list[tuple[str, str]]

    def render(self, **context: Any) -> str:
        text = self.template.render(**context)
        self.rendered.append((self.name, text))
        return text


@dataclass(frozen=True)
class Rendered:
    """Every file a container's definition renders (relative to its folder), and what each template gave."""

    files: dict[str, str]
    templates: list[tuple[str, str]]

    def from_shell_templates(self) -> set[str]:
        """The files whose text a `.sh.j2` template rendered."""
        texts = {text for name, text in self.templates if name.endswith(".sh.j2")}
        return {f for f, text in self.files.items() if text in texts}


def render_files(stack: Stack, inv: Inventory, name: str) -> Rendered:
    """What the executor pushes to container `name`: its definition's files(), with the executor's context."""
    c = stack.container(name)
    d = definition(c)
    assert d is not None, f"{name} has no service"
    ctx = Context(stack, inv.network, tuple(str(x.ip) for x in stack.address_providers()), DEFINITIONS)
    recording = RecordingEnv(render_module._env)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(render_module, "_env", recording)
        files = d.files(ctx, c)
    return Rendered(files, recording.rendered)


def shell_of(name: str, text: str) -> str | None:
    """The shell a rendered file is a script for: the one its first line names; "" for a `.sh` file that names
    none (shellcheck would not know its dialect); None for a file that is no shell script."""
    first = text.split("\n", 1)[0]
    if first.startswith("#!"):
        words = first[2:].split()
        program = words[1] if len(words) > 1 and words[0].endswith("/env") else (words[0] if words else "")
        shell = program.rpartition("/")[2]
        if shell in SHELLS:
            return shell
    return "" if name.endswith(".sh") else None


def run_shellcheck(folder: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """shellcheck over the files, written under folder by their names (so its report names them so)."""
    for f, text in files.items():
        (folder / f).parent.mkdir(parents=True, exist_ok=True)
        (folder / f).write_text(text)
    # --norc: no ~/.shellcheckrc of whoever runs the tests turns checks off; default severity (style and up)
    return subprocess.run(["shellcheck", "--norc", *files], cwd=folder, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", SERVICE_CONTAINERS)
def test_every_script_a_definition_renders_is_shellcheck_clean(name, shipped_stack, shipped_inventory, tmp_path):
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck): the rendered scripts are not linted")
    rendered = render_files(shipped_stack, shipped_inventory, name)
    shells = {f: shell_of(f, text) for f, text in rendered.files.items()}
    scripts = {f: rendered.files[f] for f, shell in shells.items() if shell is not None}
    unnamed = sorted(f for f, shell in shells.items() if shell == "")
    assert not unnamed, f"{name}: scripts whose first line names no shell (#!/bin/sh or #!/bin/bash): {unnamed}"
    # what a .sh.j2 template gave is linted even if its first line were lost: it must name its shell
    missed = sorted(rendered.from_shell_templates() - set(scripts))
    assert not missed, f"{name}: rendered from a .sh.j2 template, but no #!/bin/sh or #!/bin/bash first: {missed}"
    if not scripts:
        return
    proc = run_shellcheck(tmp_path, scripts)
    assert proc.returncode == 0, (f"shellcheck found problems in what {name}'s definition renders "
                                  f"({', '.join(sorted(scripts))}):\n{proc.stdout}{proc.stderr}")


def invocations(stack: Stack, name: str, files: dict[str, str]) -> str:
    """Every place a container's scripts are started from: its command, its check, the balancer's member
    commands that name it, its own rendered files (galera's supervisor serves its clustercheck) and the Puppet
    profiles (galera's runs apply-settings when it changed the settings)."""
    c = stack.container(name)
    d = definition(c)
    assert d is not None
    members = [d.member_state(stack, c, m, "drain") for m in stack.containers]
    return "\n".join([" ".join(d.command), c.definition.check if c.definition and c.definition.check else "",
                      *(" ".join(argv) for argv in members if argv), *files.values(),
                      *puppet_service.module_files().values()])


@pytest.mark.parametrize("name", SERVICE_CONTAINERS)
def test_every_rendered_script_is_run_by_the_shell_its_first_line_names(name, shipped_stack, shipped_inventory):
    """Pushed files are not executable (0644): each script from a template runs as `sh FILE` or `bash FILE`, so its
    first line only tells shellcheck (and a reader) the dialect; it must be the shell that really runs it."""
    rendered = render_files(shipped_stack, shipped_inventory, name)
    where = invocations(shipped_stack, name, rendered.files)
    for f in sorted(rendered.from_shell_templates()):
        named = shell_of(f, rendered.files[f])
        runs = set(re.findall(rf"\b({'|'.join(SHELLS)}) \"?\S*/{re.escape(f)}(?=[\s\"']|$)", where, re.M))
        assert runs == {named}, f"{name}: {f} names {named!r} on its first line, but is run by {sorted(runs)}"


def test_every_service_container_is_linted_and_no_shell_template_escapes(shipped_stack, shipped_inventory):
    """The parametrised tests above take every container with a service, and every templates/**/*.sh.j2 gave a file
    one of them lints: a new template renders into a checked file, or this fails."""
    assert [c.name for c in shipped_stack.containers if definition(c) is not None] == SERVICE_CONTAINERS
    came: set[str] = set()
    for name in SERVICE_CONTAINERS:
        rendered = render_files(shipped_stack, shipped_inventory, name)
        texts = set(rendered.files.values())
        came |= {t for t, text in rendered.templates if text in texts}
    templates = {p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.sh.j2")}
    assert templates, TEMPLATES
    unrendered = sorted(templates - came)
    assert not unrendered, (f"no file any definition renders for the shipped stack came from {unrendered}: render it "
                            "in a definition's files() (and the shipped stack) so that shellcheck lints it")
