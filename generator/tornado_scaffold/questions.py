"""The template's questions, read from ``copier.yml``: the single source of truth.

The CLI uses them to list the options, to parse ``--data`` and answers files, and to
reject unknown keys, wrong types and invalid choices before Copier runs. Value rules
(ranges, identifiers) live in the questions' ``validator`` and are checked by Copier.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tornado_scaffold.errors import ScaffoldError

_TYPE_NAMES = {"str": "a string", "int": "an integer", "bool": "true or false", "float": "a number"}
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


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

    def allowed(self) -> str:
        """What a valid value looks like, for error messages."""
        if self.choices:
            names = ", ".join(self.choices)
            return (
                f"a comma-separated subset of: {names}" if self.multiselect else f"one of: {names}"
            )
        return _TYPE_NAMES.get(self.type, self.type)

    @property
    def default_is_template(self) -> bool:
        """True when the default is a Jinja expression computed from other answers."""
        return isinstance(self.default, str) and "{{" in self.default

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "type": self.type_label,
            "multiselect": self.multiselect,
            "help": self.help,
            "default": self.default,
            "default_is_template": self.default_is_template,
            "required": self.required,
            "choices": list(self.choices),
            "when": self.when,
        }

    def coerce(self, value: Any) -> Any:
        """Turn a value from ``--data`` (a string) or YAML into this question's type."""
        if self.multiselect:
            if isinstance(value, str):
                value = [item.strip() for item in value.split(",") if item.strip()]
            if not isinstance(value, list):
                raise self._invalid(value)
            items = [self._coerce_one(item) for item in value]
            return list(dict.fromkeys(items))  # keep order, drop repeats
        return self._coerce_one(value)

    def _coerce_one(self, value: Any) -> Any:
        if self.type == "bool":
            if isinstance(value, bool):
                result: Any = value
            elif str(value).strip().lower() in _TRUE:
                result = True
            elif str(value).strip().lower() in _FALSE:
                result = False
            else:
                raise self._invalid(value)
        elif self.type == "int":
            if isinstance(value, bool):
                raise self._invalid(value)
            try:
                result = int(str(value).strip())
            except ValueError:
                raise self._invalid(value) from None
        elif self.type == "str":
            if isinstance(value, (dict, list)) or value is None:
                raise self._invalid(value)
            result = str(value)
        else:
            result = value
        if self.choices and result not in self.choices:
            raise self._invalid(value)
        return result

    def _invalid(self, value: Any) -> ScaffoldError:
        return ScaffoldError(f"invalid value {value!r} for {self.key}: expected {self.allowed()}")


def load(copier_yml: Path) -> dict[str, Question]:
    """Parse the questions of ``copier_yml`` (settings keys start with ``_``)."""
    raw = yaml.safe_load(copier_yml.read_text(encoding="utf-8"))
    questions = {}
    for key, spec in raw.items():
        if key.startswith("_"):
            continue
        choices = spec.get("choices") or ()
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


def installed() -> dict[str, Question]:
    """The questions of the installed template version."""
    from tornado_scaffold.history import template_root

    return load(template_root() / "copier.yml")


def check(answers: dict[str, Any], questions: dict[str, Question]) -> dict[str, Any]:
    """Reject unknown keys and coerce every answer to its question's type."""
    unknown = sorted(set(answers) - set(questions))
    if unknown:
        raise ScaffoldError(
            f"unknown answer key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
            f"valid keys are {', '.join(questions)}"
        )
    return {key: questions[key].coerce(value) for key, value in answers.items()}


def require(answers: dict[str, Any], questions: dict[str, Question]) -> None:
    """Fail, naming the key, when a question without a default has no answer."""
    missing = [q.key for q in questions.values() if q.required and q.key not in answers]
    if missing:
        flags = " ".join(f"--data {key}=..." for key in missing)
        raise ScaffoldError(
            f"missing required answer {', '.join(missing)}: "
            f"add it to the answers file or pass {flags}"
        )


def parse_data(pairs: list[str]) -> dict[str, str]:
    """Split repeated ``--data KEY=VALUE`` options into a mapping (later ones win)."""
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ScaffoldError(f"--data expects KEY=VALUE, got {pair!r}")
        data[key.strip()] = value
    return data


def read_answers_file(path: Path) -> dict[str, Any]:
    """Read a YAML answers file; Copier's own keys (``_commit``, ``_src_path``...) are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScaffoldError(f"cannot read answers file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ScaffoldError(f"answers file {path} is not UTF-8 text: save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ScaffoldError(
            f"answers file {path} is not valid YAML{where}: fix the syntax"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScaffoldError(
            f"answers file {path} must be a YAML mapping of question keys to answers"
        )
    return {str(key): value for key, value in data.items() if not str(key).startswith("_")}
