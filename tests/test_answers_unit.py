"""Unit tests (in process, milliseconds): parsing and coercing answers, reading answers files."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import pytest

from tornado_scaffold import answers
from tornado_scaffold.errors import ScaffoldError
from tornado_scaffold.questions import Question

QUESTIONS = {
    "name": Question("name", "str", "", None, required=True),
    "port": Question("port", "int", "", 8888, required=False),
    "flag": Question("flag", "bool", "", False, required=False),
    "ratio": Question("ratio", "float", "", 1.0, required=False),
    "tags": Question("tags", "str", "", [], False, choices=("a", "b", "c"), multiselect=True),
    "mode": Question("mode", "str", "", "x", required=False, choices=("x", "y")),
    "extra": Question("extra", "yaml", "", {}, required=False),
}
BOMB = ["lol"] * 9
for _ in range(8):
    BOMB = [BOMB] * 9  # 9**9 strings when printed, the way a YAML alias bomb loads


def refused(key: str, value: object) -> str:
    with pytest.raises(ScaffoldError) as caught:
        answers.coerce_one(QUESTIONS[key], value)
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300
    return message


def test_parse_data_splits_at_the_first_equals_and_later_pairs_win():
    assert answers.parse_data(["a=1", " b =x=y", "a=2", "c="]) == {"a": "2", "b": "x=y", "c": ""}


@pytest.mark.parametrize("pair", ["nonsense", "=value", " =value"])
def test_parse_data_refuses_a_pair_without_a_key(pair):
    with pytest.raises(ScaffoldError, match="--data expects KEY=VALUE"):
        answers.parse_data([pair])


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("name", "Shop", "Shop"),
        ("name", 2024, "2024"),
        ("name", datetime.date(2024, 1, 2), "2024-01-02"),
        ("name", None, ""),
        ("port", "8000", 8000),
        ("port", " +8000 ", 8000),
        ("port", 8000, 8000),
        ("port", "9" * 30, int("9" * 30)),  # out of range, but that is the validator's to say
        ("flag", "yes", True),
        ("flag", "Off", False),
        ("flag", "1", True),
        ("flag", 0, False),
        ("flag", True, True),
        ("ratio", "0.5", 0.5),
        ("ratio", 2, 2.0),
        ("mode", "y", "y"),
        ("tags", "[b, a]", ["b", "a"]),  # Copier's form: a YAML list
        ("tags", "['a', \"c\"]", ["a", "c"]),
        ("tags", "a, b ,", ["a", "b"]),  # the comma-separated form
        ("tags", "", []),
        ("tags", "[]", []),
        ("tags", ["b", "a", "b"], ["b", "a"]),  # repeats dropped, order kept
        ("extra", "{k: [1, 2]}", {"k": [1, 2]}),
        ("extra", {"k": 1}, {"k": 1}),
    ],
)
def test_coerce_one_turns_values_into_the_question_type(key, value, expected):
    assert answers.coerce_one(QUESTIONS[key], value) == expected


@pytest.mark.parametrize(
    ("key", "value", "needles"),
    [
        ("name", True, ["name", "quote it"]),  # YAML's `no` or `yes`
        ("name", ["a"], ["a list", "a string"]),
        ("name", {"a": 1}, ["a mapping"]),
        ("port", "http", ["'http'", "an integer"]),
        ("port", "8e3", ["an integer"]),
        ("port", 8000.5, ["an integer"]),
        ("port", True, ["an integer"]),
        ("port", "9" * 31, ["at most 30 digits"]),
        ("port", "9" * 5000, ["at most 30 digits"]),
        ("flag", "maybe", ["true or false"]),
        ("flag", 2, ["true or false"]),
        ("ratio", "half", ["a number"]),
        ("mode", "z", ["one of: x, y"]),
        ("tags", "z", ["'z'", "a subset of: a, b, c"]),
        ("tags", "[a", ["not valid YAML"]),
        ("tags", "[[a]]", ["a list"]),
        ("tags", 5, ["a subset of"]),
        ("tags", {"a": 1}, ["a mapping"]),
        ("extra", "{unclosed", ["not valid YAML"]),
    ],
)
def test_coerce_one_refuses_with_one_line_naming_the_key(key, value, needles):
    message = refused(key, value)
    assert f" for {key}: " in message
    for needle in needles:
        assert needle in message


def test_an_alias_bomb_value_is_refused_without_being_expanded():
    started = time.monotonic()
    for key in ("name", "tags", "port"):
        assert "a list" in refused(key, BOMB)
    assert time.monotonic() - started < 1


def test_coerce_refuses_unknown_keys_listing_the_valid_ones():
    with pytest.raises(ScaffoldError) as caught:
        answers.coerce({"colour": "red", "name": "x", "size": 1}, QUESTIONS)
    message = str(caught.value)
    assert message.startswith("unknown answer keys colour, size: ")
    assert message.endswith("valid keys are " + ", ".join(QUESTIONS))


def test_coerce_checks_every_answer():
    given = {"name": "Shop", "port": "9000", "tags": "c,a", "flag": "no"}
    assert answers.coerce(given, QUESTIONS) == {
        "name": "Shop",
        "port": 9000,
        "tags": ["c", "a"],
        "flag": False,
    }


def test_require_names_the_missing_key_and_the_option():
    answers.require({"name": "x"}, QUESTIONS)
    with pytest.raises(ScaffoldError, match="missing required answer name: .*--data name=..."):
        answers.require({"port": 1}, QUESTIONS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("short", "'short'"),
        ("x" * 100, "'" + "x" * 38 + "…"),
        ([1], "a list"),
        ({}, "a mapping"),
        (None, "an empty value"),
        (False, "false"),
        (12, "12"),
    ],
)
def test_shown_is_short_and_one_line(value, expected):
    assert answers.shown(value) == expected


def test_read_file_drops_copiers_own_keys(tmp_path):
    path = tmp_path / "a.yml"
    path.write_text("_commit: 1.0.0\n_src_path: x\nname: Shop\nport: 9000\nneg: -0\nother: '017'\n")
    assert answers.read_file(path) == {"name": "Shop", "port": 9000, "neg": 0, "other": "017"}
    path.write_text("# nothing yet\n")
    assert answers.read_file(path) == {}


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (b"port: " + b"1" * 5000, ["at line 1", "4300 digits"]),
        (b"name: x\nwhen: 2024-99-99\n", ["at line 2", "'2024-99-99'", "month must be in 1..12"]),
        (b"name: [\n", ["not valid YAML at line 2"]),
        (b"name: \xff\n", ["not UTF-8"]),
        (b"[1, 2]", ["must be a YAML mapping"]),
        (b"name: " + b"[" * 1000, ["answers file"]),
        (b"#" * (answers.MAX_FILE_BYTES + 1), ["larger than 1 MiB"]),
        (b"port: 017\n", ["'017'", "would read it as 15", "leading zeros"]),
        (b"port: 0x1F\n", ["'0x1F'", "as 31"]),
        (b"port: 1:30\n", ["'1:30'", "as 90"]),
        (b"name: a\nport: 1\nname: b\n", ["at line 3", "duplicate key 'name'"]),
        (b"tags: {a: 1, a: 2}\n", ["duplicate key 'a'"]),
    ],
)
def test_read_file_refuses_with_one_line(tmp_path, content, needles):
    path = tmp_path / "a.yml"
    path.write_bytes(content)
    with pytest.raises(ScaffoldError) as caught:
        answers.read_file(path)
    message = str(caught.value)
    assert message.startswith(f"answers file {path}") and "\n" not in message
    for needle in needles:
        assert needle in message


def test_read_file_reads_a_bounded_amount_of_an_endless_file():
    with pytest.raises(ScaffoldError, match="larger than 1 MiB"):
        answers.read_file(Path("/dev/zero"))
