"""Renders the files dockstack pushes to hosts from the jinja2 templates in templates/."""

from __future__ import annotations

from typing import Any

import jinja2

from dockstack.config import ROOT

TEMPLATES = ROOT / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


def render(template: str, **context: Any) -> str:
    """Render templates/<template> with the given context; a missing variable is an error."""
    return _env.get_template(template).render(**context)
