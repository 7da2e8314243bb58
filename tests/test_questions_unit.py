"""Unit tests: the questions as read from a copier.yml (in process, milliseconds)."""

from __future__ import annotations

import textwrap

from tornado_scaffold import source
from tornado_scaffold.questions import load

COPIER_YML = """\
_subdirectory: template
table:
  type: yaml
  when: false
  default:
    one: {label: One}
    two: {label: Two}
name:
  type: str
  help: >-
    The   human
    name
slug:
  type: str
  default: "{{ name | lower }}"
picks:
  type: str
  multiselect: true
  choices: |-
    {%- for key, row in table.items() %}
    {{ row.label }}: {{ key }}
    {%- endfor %}
  default: []
mode:
  type: str
  choices: {Fast: fast, Slow: slow}
  default: fast
size:
  type: int
  choices: [1, 2]
  default: 1
later:
  type: int
  when: "{{ name }}"
  default: 1
"""


def test_load_skips_settings_and_computed_values_and_renders_choices(tmp_path):
    path = tmp_path / "copier.yml"
    path.write_text(textwrap.dedent(COPIER_YML))

    questions = load(path)

    assert list(questions) == ["name", "slug", "picks", "mode", "size", "later"]
    assert questions["picks"].choices == ("one", "two")  # rendered from the computed table
    assert questions["picks"].type_label == "list[str]"
    assert questions["mode"].choices == ("fast", "slow")
    assert questions["size"].choices == ("1", "2")
    assert questions["name"].required and questions["name"].help == "The human name"
    assert not questions["later"].required and questions["later"].when == "{{ name }}"
    assert questions["slug"].default_is_template
    assert questions["slug"].derived_from(list(questions)) == ["name"]
    assert questions["mode"].derived_from(list(questions)) == []
    keys = list(questions)
    assert questions["picks"].to_json(keys)["choices"] == ["one", "two"]
    # In words, not Jinja:
    assert questions["slug"].default_text(keys) == "derived from name"
    assert questions["slug"].to_json(keys)["default"] is None
    assert questions["slug"].to_json(keys)["default_derived_from"] == ["name"]
    assert questions["mode"].default_text(keys) == '"fast"'
    assert questions["later"].when_text(keys) == "name is true"
    assert questions["later"].to_json(keys)["when"] == "name is true"
    assert questions["name"].when_text(keys) is None


def test_the_installed_templates_choices_render():
    for question in source.installed().questions().values():
        assert all(choice.strip() for choice in question.choices), question.key


def _computed(key: str):
    import yaml

    return yaml.safe_load((source.installed().root / "copier.yml").read_text())[key]["default"]


def test_unsafe_text_covers_every_control_and_invisible_format_character():
    """The one rule of the text validators, checked against this Python's Unicode database:
    Trojan Source characters (bidirectional controls, zero-width...) and every other
    control or format character; ordinary text in any script passes."""
    import re
    import sys
    import unicodedata

    pattern = re.compile(_computed("unsafe_text"))
    hidden = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp")
    ]
    assert len(hidden) > 150
    assert [f"U+{ord(c):04X}" for c in hidden if not pattern.fullmatch(c)] == []
    for text in ("Café", "Ünïcödé", "東京", "مرحبا", "שלום", "😀", "a b", "x-y_z"):
        assert not pattern.search(text), text
