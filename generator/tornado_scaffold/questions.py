"""The template's questions, read from ``copier.yml``: the single source of truth.

The CLI lists them, parses answers against them and rejects unknown keys, wrong types
and invalid choices before Copier runs. Value rules (ranges, identifiers) live in the
questions' ``validator`` and are checked by Copier.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Question:
    key: str
    type: str
    help: str
    default: Any
    required: bool
    choices: tuple[str, ...] = ()
    multiselect: bool = False
    when: str | None = None

    @property
    def type_label(self) -> str:
        return f"list[{self.type}]" if self.multiselect else self.type

    @property
    def default_is_template(self) -> bool:
        """True when the default is a Jinja expression computed from other answers."""
        return isinstance(self.default, str) and "{{" in self.default

    def derived_from(self, keys: list[str]) -> list[str]:
        """The other questions whose answers a templated default is computed from."""
        if not self.default_is_template:
            return []
        return [k for k in keys if k != self.key and re.search(rf"\b{k}\b", self.default)]

    def default_text(self, keys: list[str]) -> str:
        """The default in words: Jinja is for Copier, not for people."""
        if not self.default_is_template:
            return json.dumps(self.default)
        return f"derived from {' and '.join(self.derived_from(keys)) or 'the other answers'}"

    def when_text(self, keys: list[str]) -> str | None:
        """When the question is asked, in words (None: always)."""
        if self.when is None or self.when is True:
            return None
        text = str(self.when)
        if match := re.fullmatch(r"\{\{\s*(not\s+)?(\w+)\s*\}\}", text.strip()):
            return f"{match[2]} is {'false' if match[1] else 'true'}"
        names = [k for k in keys if k != self.key and re.search(rf"\b{k}\b", text)]
        return f"depending on {', '.join(names) or 'the other answers'}"

    def to_json(self, keys: list[str]) -> dict[str, Any]:
        """For scripts: a computed default is null, with the answers it is derived from."""
        return {
            "key": self.key,
            "type": self.type_label,
            "multiselect": self.multiselect,
            "help": self.help,
            "default": None if self.default_is_template else self.default,
            "default_is_template": self.default_is_template,
            "default_derived_from": self.derived_from(keys),
            "required": self.required,
            "choices": list(self.choices),
            "when": self.when_text(keys),
        }


def load(copier_yml: Path) -> dict[str, Question]:
    """The questions of ``copier_yml``: settings (``_`` keys) and computed values left out."""
    return parse(copier_yml.read_text(encoding="utf-8"))


def parse(text: str) -> dict[str, Question]:
    """The questions of a copier.yml's text (see ``load``)."""
    raw = yaml.safe_load(text)
    # Computed values (``when: false``) are never asked: they are data for the template,
    # such as the table that the auth_providers choices are rendered from.
    computed = {k: v.get("default") for k, v in raw.items() if is_computed(k, v)}
    questions = {}
    for key, spec in raw.items():
        if key.startswith("_") or key in computed:
            continue
        choices = spec.get("choices") or ()
        if isinstance(choices, str):  # rendered from computed values, as Copier does
            choices = _render_choices(choices, computed)
        if isinstance(choices, dict):  # {label: value}
            choices = choices.values()
        questions[key] = Question(
            key=key,
            type=spec.get("type", "str"),
            help=" ".join(str(spec.get("help", "")).split()),
            default=spec.get("default"),
            required="default" not in spec and "when" not in spec,
            choices=tuple(str(choice) for choice in choices),
            multiselect=bool(spec.get("multiselect", False)),
            when=spec.get("when"),
        )
    return questions


def computed(copier_yml: Path | str) -> dict[str, Any]:
    """The values the template computes and never asks, as written (``sign_in_providers``...),
    from a copier.yml file or its text."""
    text = copier_yml if isinstance(copier_yml, str) else copier_yml.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return {k: v.get("default") for k, v in raw.items() if is_computed(k, v)}


def is_computed(key: str, spec: Any) -> bool:
    """A value the template computes and never asks (``when: false``)."""
    return not key.startswith("_") and isinstance(spec, dict) and spec.get("when") is False


def _render_choices(text: str, context: dict[str, Any]) -> Any:
    from jinja2.sandbox import SandboxedEnvironment

    rendered = yaml.safe_load(SandboxedEnvironment().from_string(text).render(context))
    return rendered or ()
