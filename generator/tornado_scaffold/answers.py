"""Answers as users give them (``--data KEY=VALUE``, YAML files), checked against the questions.

Everything here refuses bad input with a one-line ScaffoldError, and stays bounded
whatever the input: files are read up to a size limit, and values are shown in
messages only as a short excerpt (a YAML alias bomb is a small file but a huge value).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tornado_scaffold.errors import ScaffoldError
from tornado_scaffold.questions import Question

MAX_FILE_BYTES = 1 << 20  # an answers file is a few hundred bytes
_TYPE_NAMES = {"str": "a string", "int": "an integer", "bool": "true or false", "float": "a number"}
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_MAX_DIGITS = 30  # no answer needs more, and Python refuses to parse past 4,300


def shown(value: Any, limit: int = 40) -> str:
    """A short, one-line description of ``value`` for an error message."""
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_data(pairs: list[str]) -> dict[str, str]:
    """Split repeated ``--data KEY=VALUE`` options into a mapping (later ones win)."""
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ScaffoldError(f"--data expects KEY=VALUE, got {shown(pair)}")
        data[key.strip()] = value
    return data


# YAML 1.1 reads 017 as 15, 0x1F as 31 and 1:30 as 90: an answer means what it shows, so an
# integer is plain decimal digits (quote anything else).
_DECIMAL = re.compile(r"[+-]?(0|[1-9][0-9]*)")


class _Loader(yaml.SafeLoader):
    """Safe YAML whose value errors (a 5,000-digit integer, the date 2024-99-99) say where,
    refusing duplicate keys (YAML would keep the last) and non-decimal integers."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(node.value)
        if not _DECIMAL.fullmatch(text):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"{shown(text)} is not a plain decimal integer (YAML would read it as "
                f"{_yaml_int(self, node)}): write the number without leading zeros, or quote it",
                node.start_mark,
            )
        return super().construct_yaml_int(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {shown(key_node.value)}: keep one",
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as error:
            reason = str(error).split(":")[0] if str(error) else type(error).__name__
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown(node.value)} cannot be read ({reason})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _yaml_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    try:
        return str(yaml.SafeLoader.construct_yaml_int(loader, node))
    except (ValueError, OverflowError):
        return "something else"


def read_mapping(path: Path, what: str, fix: str) -> dict[str, Any]:
    """The YAML mapping in ``path``; ``what`` names the file, ``fix`` says what to do."""
    try:
        with open(path, "rb") as handle:  # any kind of file, read up to the limit
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ScaffoldError(f"cannot read {what}: {error.strerror or error}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScaffoldError(f"{what} is larger than {MAX_FILE_BYTES >> 20} MiB: {fix}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScaffoldError(f"{what} is not UTF-8 text: {fix}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None)
        detail = f": {problem}" if isinstance(error, yaml.constructor.ConstructorError) else ""
        raise ScaffoldError(f"{what} is not valid YAML{where}{detail}: {fix}") from None
    except RecursionError:  # thousands of nested brackets
        raise ScaffoldError(f"{what} is nested too deeply: {fix}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ScaffoldError(f"{what} must be a YAML mapping of question keys to answers")
    return {str(key): value for key, value in data.items()}


def read_file(path: Path) -> dict[str, Any]:
    """A YAML answers file; Copier's own keys (``_commit``, ``_src_path``...) are ignored."""
    data = read_mapping(path, f"answers file {path}", "fix it (a YAML mapping, key: value)")
    return {key: value for key, value in data.items() if not key.startswith("_")}


def from_options(
    questions: dict[str, Question], data: Sequence[str] = (), answers_file: Path | None = None
) -> dict[str, Any]:
    """The answers given on the command line, checked and typed: the ``--answers-file``
    (when given), each ``--data KEY=VALUE`` overriding it."""
    given = read_file(answers_file) if answers_file is not None else {}
    given.update(parse_data(list(data)))
    return coerce(given, questions)


def coerce(answers: dict[str, Any], questions: dict[str, Question]) -> dict[str, Any]:
    """Reject unknown keys and turn every answer into its question's type."""
    unknown = sorted(set(answers) - set(questions))
    if unknown:
        names = ", ".join(shown(k, 30).strip("'") for k in unknown[:5])
        raise ScaffoldError(
            f"unknown answer key{'s' if len(unknown) > 1 else ''} {names}: "
            f"valid keys are {', '.join(questions)}"
        )
    return {key: coerce_one(questions[key], value) for key, value in answers.items()}


def coerce_one(question: Question, value: Any) -> Any:
    """Turn a value from ``--data`` (a string) or YAML into ``question``'s type."""
    if not question.multiselect:
        return _checked_choice(question, value, _scalar(question, value))
    items = value
    if isinstance(value, str):
        # Copier's form is a YAML list ([google, github]); a comma-separated one works too.
        if value.lstrip().startswith("["):
            items = _yaml_value(question, value)
        else:
            items = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(items, list):
        raise _invalid(question, value)
    result = [_checked_choice(question, item, _scalar(question, item)) for item in items]
    return list(dict.fromkeys(result))  # keep the order, drop repeats


def require(answers: dict[str, Any], questions: dict[str, Question]) -> None:
    """Fail, naming the key, when a question without a default has no answer."""
    missing = [q.key for q in questions.values() if q.required and q.key not in answers]
    if missing:
        flags = " ".join(f"--data {key}=..." for key in missing)
        raise ScaffoldError(
            f"missing required answer {', '.join(missing)}: "
            f"add it to the answers file or pass {flags}"
        )


def _scalar(question: Question, value: Any) -> Any:
    kind = question.type
    if kind in ("yaml", "json"):
        return _yaml_value(question, value) if isinstance(value, str) else value
    if isinstance(value, (list, dict)):
        raise _invalid(question, value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise _invalid(question, value)
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = value.strip() if isinstance(value, str) else ""
        if not _INTEGER.fullmatch(text):
            raise _invalid(question, value)
        if len(text) > _MAX_DIGITS:
            raise _invalid(question, value, f"at most {_MAX_DIGITS} digits")
        return int(text)
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(str(value).strip())
        except ValueError:
            raise _invalid(question, value) from None
    if kind == "str":
        if value is None:  # `author_name:` with nothing after it
            return ""
        if isinstance(value, bool):  # YAML reads `no` as false: a string must be quoted
            raise _invalid(question, value, "quote it")
        if isinstance(value, (int, float, datetime.date)):
            return str(value)
        if isinstance(value, str):
            return value
        raise _invalid(question, value)
    return value


def _checked_choice(question: Question, value: Any, result: Any) -> Any:
    if question.choices and str(result) not in question.choices:
        raise _invalid(question, value)
    return result


def _yaml_value(question: Question, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader
    except (yaml.YAMLError, RecursionError, MemoryError):
        raise _invalid(question, text, "it is not valid YAML") from None


def _invalid(question: Question, value: Any, hint: str = "") -> ScaffoldError:
    if question.choices:
        names = ", ".join(question.choices)
        expected = (
            f"a subset of: {names} (a YAML list, or comma-separated)"
            if question.multiselect
            else f"one of: {names}"
        )
    else:
        expected = _TYPE_NAMES.get(question.type, question.type)
    return ScaffoldError(
        f"invalid value {shown(value)} for {question.key}: expected {expected}"
        + (f"; {hint}" if hint else "")
    )
