"""`new --answers-file` and `questions --json`: automation without prompts, through the CLI
(in this process, HOME set to a test folder, no terminal on stdin)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from tornado_scaffold import source

from conftest import invoke, tree

PROVIDERS = [q.choices for q in source.installed().questions().values() if q.multiselect][0]
# A 'billion laughs' file: a few hundred bytes, 9**9 strings once every alias is expanded.
ALIAS_BOMB = "\n".join(
    ['_l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"_l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["project_name: *l8", "auth_providers: *l8"]
)


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
            ("colour", "valid keys are", "project_name", "port", "auth_providers"),
            id="unknown-key",
        ),
        pytest.param("project_name: Shop\nport: many\n", ("port", "an integer"), id="wrong-int"),
        pytest.param(
            "project_name: Shop\nwebsocket: maybe\n",
            ("websocket", "true or false"),
            id="wrong-bool",
        ),
        pytest.param(
            "project_name: Shop\nport: [8000]\n",
            ("port", "a list", "an integer"),
            id="list-for-int",
        ),
        pytest.param(
            "project_name: Shop\nauth_providers: [myspace]\n",
            ("auth_providers", "myspace", ", ".join(PROVIDERS)),
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
        pytest.param("project_name: no\n", ("project_name", "quote it"), id="yaml-bool-name"),
        pytest.param("port: 9000\n", ("missing required", "project_name"), id="missing-required"),
        pytest.param("", ("missing required", "project_name"), id="empty-file"),
        pytest.param("project_name: [unclosed\n", ("not valid YAML", "line"), id="invalid-yaml"),
        pytest.param("- project_name\n- port\n", ("must be a YAML mapping",), id="list"),
        pytest.param("just a string\n", ("must be a YAML mapping",), id="scalar"),
        pytest.param(b"project_name: \xff\xfe\n", ("UTF-8",), id="not-utf8"),
        pytest.param(
            "project_name: Shop\nport: " + "1" * 5000 + "\n",
            ("not valid YAML at line 2", "'1111", "4300 digits"),
            id="5000-digit-integer",
        ),
        pytest.param(
            "project_name: Shop\ndescription: 2024-99-99\n",
            ("not valid YAML at line 2", "2024-99-99", "month must be in 1..12"),
            id="impossible-date",
        ),
        pytest.param(ALIAS_BOMB, ("project_name", "a list"), id="billion-laughs"),
        pytest.param("project_name: " + "[" * 1000, ("answers file",), id="deep-nesting"),
        pytest.param("# padding\n" * 200_000, ("larger than 1 MiB",), id="over-a-mebibyte"),
    ],
)
def test_bad_answers_file_is_refused_cleanly(tmp_path, home, content, needles):
    answers = write(tmp_path, content)

    # CPU time, not wall time: a loaded machine slows both, but only expanding costs CPU.
    started = time.process_time()
    done = invoke("new", tmp_path / "dest", "--answers-file", answers, home=home)

    assert time.process_time() - started < 5  # refused, not expanded
    assert done.exit_code == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert len(done.stderr) < 500
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.yml"]  # no dest, no scratch


@pytest.mark.parametrize("missing", ["nowhere.yml", "folder"])
def test_unreadable_answers_file_is_refused_cleanly(tmp_path, home, missing):
    (tmp_path / "folder").mkdir()

    done = invoke("new", tmp_path / "dest", "--answers-file", tmp_path / missing, home=home)

    assert done.exit_code == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: cannot read answers file {tmp_path / missing}: ")
    assert not (tmp_path / "dest").exists()


def test_endless_answers_file_is_refused(tmp_path, home):
    done = invoke("new", tmp_path / "dest", "--answers-file", "/dev/zero", home=home)

    assert done.exit_code == 2, done.stderr
    assert done.stderr.startswith("error: answers file /dev/zero is larger than 1 MiB")
    assert list(tmp_path.iterdir()) == []


def test_data_overrides_the_answers_file(tmp_path, home):
    answers = write(tmp_path, "project_name: Shop\nport: 70000\ndescription: From the file\n")

    done = invoke(
        "new", tmp_path / "dest", "--answers-file", answers, "--data", "port=9100", home=home
    )

    assert done.exit_code == 0, done.stderr
    recorded = yaml.safe_load((tmp_path / "dest" / ".copier-answers.yml").read_text())
    assert recorded["port"] == 9100
    assert recorded["description"] == "From the file"
    assert "--port=9100" in (tmp_path / "dest" / "README.md").read_text()


def test_answers_of_a_project_reproduce_it_elsewhere(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    made = invoke(
        "new",
        first / "shop",
        "--defaults",
        "--data=project_name=Shop API",
        "--data=port=9001",
        "--data=author_name=Ada",
        f"--data=auth_providers={','.join(reversed(PROVIDERS[:2]))}",
        home=first / "home",
    )
    assert made.exit_code == 0, made.stderr

    done = invoke(
        "new",
        second / "copy",
        "--answers-file",
        first / "shop" / ".copier-answers.yml",
        home=second / "home",
    )

    assert done.exit_code == 0, done.stderr
    original, copy = tree(first / "shop"), tree(second / "copy")
    assert copy == original
    assert copy["README.md"].startswith(b"# Shop API")
    assert f"- {PROVIDERS[1]}".encode() in copy[".copier-answers.yml"]


def test_questions_json_is_machine_usable(tmp_path, home):
    """A script can build a complete answers file from the listing alone."""
    done = invoke("questions", "--json", home=home)

    assert done.exit_code == 0, done.stderr
    listed = json.loads(done.stdout)
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
    answers = {
        q["key"]: q["default"]
        for q in listed
        if not q["required"] and not q["default_is_template"] and not q["when"]
    }
    for q in listed:
        if q["required"]:
            answers[q["key"]] = "Scripted"
    path = tmp_path / "answers.json"  # JSON is YAML too
    path.write_text(json.dumps(answers))

    made = invoke("new", tmp_path / "scripted", "--answers-file", path, home=home)

    assert made.exit_code == 0, made.stderr
    recorded = yaml.safe_load((tmp_path / "scripted" / ".copier-answers.yml").read_text())
    assert {k: recorded[k] for k in answers} == answers
    templated = [q["key"] for q in listed if q["default_is_template"]]
    assert templated and all(key in recorded for key in templated)  # computed from the rest
    assert recorded["project_slug"] == "scripted" and recorded["auth_providers"] == []


@pytest.mark.parametrize(
    ("content", "data", "providers"),
    [
        ("database: true\n", [], ["password"]),  # a blog, by default: writable out of the box
        ("database: true\nblog: false\n", [], []),
        ("database: true\nauth_providers: [github]\n", [], ["github"]),
        ("", ["--data=database=true"], ["password"]),
    ],
)
def test_a_blog_gets_password_sign_in_unless_told_otherwise(
    tmp_path, home, content, data, providers
):
    path = tmp_path / "answers.yml"
    path.write_text("project_name: Blog\n" + content)
    made = invoke("new", tmp_path / "blog", "--defaults", "--answers-file", path, *data, home=home)
    assert made.exit_code == 0, made.stderr
    recorded = yaml.safe_load((tmp_path / "blog" / ".copier-answers.yml").read_text())
    assert recorded["auth_providers"] == providers


def test_password_sign_in_without_the_database_is_refused_in_one_line(tmp_path, home):
    path = tmp_path / "answers.yml"
    path.write_text("project_name: Nope\nauth_providers: [password]\n")
    made = invoke("new", tmp_path / "nope", "--defaults", "--answers-file", path, home=home)
    assert made.exit_code == 2
    assert made.stderr.count("\n") == 1 and "database" in made.stderr, made.stderr
    assert not (tmp_path / "nope").exists()
