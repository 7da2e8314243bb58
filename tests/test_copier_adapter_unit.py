"""Unit tests of the Copier adapter, in process, against real Copier on tiny templates:
the answers it returns and the one-line messages its errors become."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from tornado_scaffold import copier_adapter
from tornado_scaffold.errors import Interrupted, ScaffoldError
from tornado_scaffold.questions import load

COPIER_YML = """\
_subdirectory: template
name:
  type: str
  validator: "{% if not name %}must not be empty{% endif %}"
slug:
  type: str
  default: "{{ name | lower }}"
  validator: "{% if slug | length > 3 %}must be at most 3 characters{% endif %}"
count:
  type: int
  default: 1
pick:
  type: str
  choices: [red, blue]
  default: red
hidden:
  type: yaml
  when: false
  default: {a: 1}
"""


@pytest.fixture
def template(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "template").mkdir(parents=True)
    (root / "copier.yml").write_text(COPIER_YML)
    (root / "template" / "{{ slug }}.txt.jinja").write_text("{{ name }} x{{ count }}\n")
    (root / "template" / "{{_copier_conf.answers_file}}.jinja").write_text(
        "{{ _copier_answers|to_nice_yaml }}"
    )
    return root


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch) -> Path:
    """The temporary folder, watched for anything Copier would leave in it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def copy(template: Path, dest: Path, data: dict, **options) -> dict:
    settings = {"version": "1", "ask": False, "user_defaults": {}, **options}
    questions = load(template / "copier.yml")
    return copier_adapter.copy(str(template), dest, data=data, questions=questions, **settings)


def refusal(template: Path, dest: Path, data: dict, **options) -> str:
    with pytest.raises(ScaffoldError) as caught:
        copy(template, dest, data, **options)
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 2
    return message


def test_copy_returns_the_recorded_answers(template, tmp_path, private_tmp):
    dest = tmp_path / "out"

    recorded = copy(template, dest, {"name": "Abc", "pick": "blue"})

    assert recorded == {"name": "Abc", "slug": "abc", "count": 1, "pick": "blue"}
    written = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert {k: v for k, v in written.items() if not k.startswith("_")} == recorded
    assert (dest / "abc.txt").read_text() == "Abc x1\n"
    assert list(private_tmp.iterdir()) == []
    assert tempfile.tempdir == str(private_tmp)


def test_a_failed_validator_names_the_key_and_the_value_given(template, tmp_path):
    message = refusal(template, tmp_path / "out", {"name": "Abc", "slug": "toolong"})
    assert message == (
        "invalid slug (got 'toolong'): must be at most 3 characters; set it with --data slug=VALUE"
    )


def test_a_failed_derived_default_names_what_it_was_derived_from(template, tmp_path):
    message = refusal(template, tmp_path / "out", {"name": "Abcdef"})
    assert message.startswith("invalid slug (derived from name): must be at most 3 characters")
    assert message.endswith("set it with --data slug=VALUE")


def test_a_missing_required_answer(template, tmp_path):
    assert refusal(template, tmp_path / "out", {}) == (
        "missing required answer name: pass --data name=VALUE"
    )


def test_an_invalid_choice_lists_the_choices(template, tmp_path):
    message = refusal(template, tmp_path / "out", {"name": "a", "pick": "green"})
    assert message.startswith("invalid pick (got 'green'): expected one of: red, blue")


def test_a_template_syntax_error_says_where(template, tmp_path, private_tmp):
    (template / "template" / "broken.txt.jinja").write_text("line one\n{{ unclosed \n")

    message = refusal(template, tmp_path / "out", {"name": "a"})

    assert message.startswith("the template could not be rendered: broken.txt.jinja line 2: ")
    assert list(private_tmp.iterdir()) == []


def test_missing_answers_without_a_terminal(template, tmp_path, monkeypatch):
    def no_terminal(*args, **kwargs):
        raise EOFError

    monkeypatch.setattr("copier._main.unsafe_prompt", no_terminal)
    message = refusal(template, tmp_path / "out", {}, ask=True)
    assert message.startswith("answers are missing and stdin is not a terminal")


@pytest.mark.parametrize("raised", [KeyboardInterrupt(), Interrupted(signal.SIGTERM)])
def test_an_interrupt_at_a_prompt_is_an_interrupted(
    template, tmp_path, monkeypatch, private_tmp, raised
):
    """Copier turns it into an error holding every answer so far: only the signal is kept."""

    def interrupted(*args, **kwargs):
        raise raised

    monkeypatch.setattr("copier._main.unsafe_prompt", interrupted)
    with pytest.raises(Interrupted) as caught:
        copy(template, tmp_path / "out", {}, ask=True)
    assert caught.value.signum == getattr(raised, "signum", signal.SIGINT)
    assert caught.value.exit_code == 128 + caught.value.signum
    assert list(private_tmp.iterdir()) == []


def test_a_missing_template_version(template, tmp_path):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "v1"], ["tag", "1.0"]):
        subprocess.run([*git, *command], cwd=template, check=True)

    message = refusal(template, tmp_path / "out", {"name": "a"}, version="9.9")

    assert message.startswith("template version 9.9 is missing from the template history")


def test_file_system_errors_are_left_to_the_caller(template, tmp_path, monkeypatch):
    """The caller knows what it was writing, and says so."""

    def full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    dest = tmp_path / "out"
    dest.mkdir()  # `new` renders into an existing scratch folder
    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match="No space left on device"):
        copy(template, dest, {"name": "a"})


def test_a_failing_git_command_gives_its_last_line():
    from plumbum import ProcessExecutionError

    error = ProcessExecutionError(["git", "clone"], 128, "", "Cloning...\nfatal: bad object\n")
    assert copier_adapter.message(error, {}, {}) == "git failed inside Copier: fatal: bad object"


# Where Copier has no public way to say it, the adapter relies on Copier's internals: the
# tests below fail naming what changed in a new Copier, while users only lose a nicety.
COPIER = f"Copier {version('copier')}"


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"name": "Abc", "slug": "toolong"}, copier_adapter._VALIDATION),
        ({}, copier_adapter._REQUIRED),
        ({"name": "a", "pick": "green"}, copier_adapter._CHOICE),
        ({"name": "a", "count": None}, copier_adapter._TYPE),
    ],
    ids=["validation", "required", "choice", "type"],
)
def test_copier_still_words_its_answer_errors_as_the_adapter_reads_them(
    template, tmp_path, data, pattern
):
    import copier

    with pytest.raises(Exception) as caught:
        copier.run_copy(str(template), tmp_path / "out", data=data, defaults=True, quiet=True)

    text = str(caught.value).strip()
    assert pattern.search(text), (
        f"{COPIER} words this error {text!r}: copier_adapter's pattern {pattern.pattern!r} "
        "no longer finds the question in it"
    )


def test_copier_still_words_an_unknown_revision_as_the_adapter_reads_it(template, tmp_path):
    import copier

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "v1"], ["tag", "1.0"]):
        subprocess.run([*git, *command], cwd=template, check=True)
    with pytest.raises(Exception) as caught:
        copier.run_copy(str(template), tmp_path / "out", data={"name": "a"}, vcs_ref="9.9")

    text = str(caught.value)
    assert copier_adapter._REVISION.search(text), (
        f"{COPIER} words a missing template version {text!r}: "
        "copier_adapter._REVISION no longer finds it"
    )


def test_new_projects_still_skip_copiers_git_index_step(template, tmp_path, monkeypatch):
    """Copier calls Worker's git index step for each file it writes; `new` replaces it."""
    import copier
    import copier._main

    calls = []
    step = copier_adapter.GIT_INDEX_STEP
    assert step in vars(copier._main.Worker), (
        f"{COPIER} has no Worker.{step}: `new` no longer skips it (half its time in git "
        "processes, bench/cli.py): find what replaced it, or drop copier_adapter.run_copy_new"
    )
    monkeypatch.setattr(copier._main.Worker, step, lambda self, *args: calls.append(args))

    copier.run_copy(str(template), tmp_path / "plain", data={"name": "a"}, defaults=True)
    assert calls, f"{COPIER} no longer calls Worker.{step} for each file it writes"
    calls.clear()
    copy(template, tmp_path / "new", {"name": "a"})
    assert calls == [] and (tmp_path / "new" / "a.txt").is_file()


def test_prompts_still_go_through_unsafe_prompt_and_fit_the_terminal(
    template, tmp_path, monkeypatch
):
    import copier._main

    help_text = "A long help text that a terminal of fifty columns cuts off at its edge. " * 3
    yml = template / "copier.yml"
    yml.write_text(
        yml.read_text().replace("  type: str\n", f"  type: str\n  help: {help_text}\n", 1)
    )
    asked = []

    def prompt(questions, *args, **kwargs):
        asked.extend(questions)
        return {question["name"]: "Abc" for question in questions}

    assert hasattr(copier._main, copier_adapter.PROMPT), (
        f"{COPIER} has no copier._main.{copier_adapter.PROMPT}: prompts are no longer wrapped "
        "to the terminal (copier_adapter._prompts_fit_the_terminal)"
    )
    monkeypatch.setattr(copier._main, copier_adapter.PROMPT, prompt)
    monkeypatch.setenv("COLUMNS", "50")
    try:
        copy(template, tmp_path / "out", {"slug": "abc", "count": 1, "pick": "red"}, ask=True)
    except ScaffoldError as error:
        pytest.fail(f"{COPIER} asked without copier._main.{copier_adapter.PROMPT}: {error}")

    (message,) = [question["message"] for question in asked if question["name"] == "name"]
    lines = message.splitlines()
    assert len(lines) > 2 and max(len(line) for line in lines) <= 46, lines
