"""`new --answers-file` and `questions --json`: automation without prompts, through the CLI.

Each run is a subprocess with its own empty HOME (no template cache), stdin closed so a
prompt would fail, and PYTHONPATH pointing at this checkout's package.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_cli, tree


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI on a fresh machine: an empty HOME of its own, run from ``tmp_path``."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return run_cli(*args, home=home, cwd=tmp_path)


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "answers.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        pytest.param(
            "project_name: Shop\ncolour: red\n",
            ("colour", "valid keys are", "project_name", "port", "websocket", "auth_providers"),
            id="unknown-key",
        ),
        pytest.param("project_name: Shop\nport: many\n", ("port", "an integer"), id="wrong-int"),
        pytest.param(
            "project_name: Shop\nwebsocket: maybe\n",
            ("websocket", "true or false"),
            id="wrong-bool",
        ),
        pytest.param(
            "project_name: Shop\nport: [8000]\n", ("port", "an integer"), id="list-for-int"
        ),
        pytest.param(
            "project_name: Shop\nauth_providers: [google, myspace]\n",
            ("auth_providers", "myspace", "google, github, facebook, twitter"),
            id="bad-choice",
        ),
        pytest.param(
            "project_name: Shop\nport: 70000\n", ("port", "1 to 65535"), id="out-of-range"
        ),
        pytest.param(
            "project_name: Shop\nproject_slug: 9lives\n",
            ("project_slug", "identifier"),
            id="validator",
        ),
        pytest.param("port: 9000\n", ("missing required", "project_name"), id="missing-required"),
        pytest.param("", ("missing required", "project_name"), id="empty-file"),
        pytest.param("project_name: [unclosed\n", ("not valid YAML", "line"), id="invalid-yaml"),
        pytest.param("- project_name\n- port\n", ("must be a YAML mapping",), id="list"),
        pytest.param("just a string\n", ("must be a YAML mapping",), id="scalar"),
        pytest.param(b"project_name: \xff\xfe\n", ("UTF-8",), id="not-utf8"),
    ],
)
def test_bad_answers_file_is_refused_cleanly(tmp_path, content, needles):
    answers = write(tmp_path, content)

    done = cli(tmp_path, "new", "dest", "--answers-file", str(answers))

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)
    assert not (tmp_path / "dest").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.yml", "home"]  # no scratch


@pytest.mark.parametrize("missing", ["nowhere.yml", "folder"])
def test_unreadable_answers_file_is_refused_cleanly(tmp_path, missing):
    (tmp_path / "folder").mkdir()

    done = cli(tmp_path, "new", "dest", "--answers-file", str(tmp_path / missing))

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: cannot read answers file {tmp_path / missing}: ")
    assert not (tmp_path / "dest").exists()


def test_data_overrides_the_answers_file(tmp_path):
    answers = write(tmp_path, "project_name: Shop\nport: 70000\ndescription: From the file\n")

    done = cli(tmp_path, "new", "dest", "--answers-file", str(answers), "--data", "port=9100")

    assert done.returncode == 0, done.stderr
    recorded = yaml.safe_load((tmp_path / "dest" / ".copier-answers.yml").read_text())
    assert recorded["port"] == 9100
    assert recorded["description"] == "From the file"
    assert 'define("port", default=9100' in (tmp_path / "dest" / "app.py").read_text()


def test_answers_of_a_project_reproduce_it_elsewhere(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    made = cli(
        first,
        "new",
        "shop",
        "--defaults",
        "--data=project_name=Shop API",
        "--data=port=9001",
        "--data=author_name=Ada",
        "--data=auth_providers=github,google",
    )
    assert made.returncode == 0, made.stderr
    second = tmp_path / "second"
    second.mkdir()

    done = cli(second, "new", "copy", "--answers-file", str(first / "shop" / ".copier-answers.yml"))

    assert done.returncode == 0, done.stderr
    original, copy = tree(first / "shop"), tree(second / "copy")
    assert copy == original
    assert b'PROJECT_NAME = "Shop API"' in copy["app.py"]
    assert b"- github" in copy[".copier-answers.yml"]


def test_questions_json_is_machine_usable(tmp_path):
    done = cli(tmp_path, "questions", "--json")

    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    settings = yaml.safe_load((REPO / "copier.yml").read_text())
    assert [q["key"] for q in listed] == [k for k in settings if not k.startswith("_")]
    fields = {
        "key": str,
        "type": str,
        "multiselect": bool,
        "help": str,
        "default_is_template": bool,
        "required": bool,
        "choices": list,
    }
    for question in listed:
        for name, kind in fields.items():
            assert isinstance(question[name], kind), (question["key"], name)
        assert question["help"], question["key"]
    by_key = {q["key"]: q for q in listed}
    assert by_key["project_name"]["required"] is True
    assert by_key["port"] == {**by_key["port"], "type": "int", "default": 8888}
    assert by_key["project_slug"]["default_is_template"] is True
    assert by_key["auth_providers"]["multiselect"] is True
    assert "github" in by_key["auth_providers"]["choices"]

    # A script can build a complete answers file from the listing alone.
    answers = {
        q["key"]: q["default"]
        for q in listed
        if not q["required"] and not q["default_is_template"] and not q["when"]
    }
    answers["project_name"] = "Scripted"
    path = tmp_path / "answers.json"  # JSON is YAML too
    path.write_text(json.dumps(answers))
    made = cli(tmp_path, "new", "scripted", "--answers-file", str(path))
    assert made.returncode == 0, made.stderr
    recorded = yaml.safe_load((tmp_path / "scripted" / ".copier-answers.yml").read_text())
    assert {k: recorded[k] for k in answers} == answers
    assert recorded["project_slug"] == "scripted"
