"""The CLI as a user meets it: help, version, questions and every refused input."""

import contextlib
import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tornado_scaffold import __version__

from conftest import fake_release, run_cli


def test_version(home):
    done = run_cli("--version", home=home)
    assert done.returncode == 0
    assert done.stdout.strip() == f"tornado-scaffold {__version__}"


def test_help_shows_examples_without_importing_copier(home):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tornado_scaffold", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "tornado-scaffold new my-app" in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert "tornado_scaffold.cli" in imported
    assert not any(name == "copier" or name.startswith("copier.") for name in imported)


def test_questions_json_lists_every_key_with_types(home):
    done = run_cli("questions", "--json", home=home)
    assert done.returncode == 0, done.stderr
    questions = {q["key"]: q for q in json.loads(done.stdout)}
    assert list(questions)[:5] == [
        "project_name",
        "project_slug",
        "description",
        "author_name",
        "port",
    ]
    assert questions["project_name"]["required"] is True
    assert questions["port"] == {**questions["port"], "type": "int", "default": 8888}
    assert questions["auth_providers"]["type"] == "list[str]"
    assert questions["auth_providers"]["choices"] == ["google", "github", "facebook", "twitter"]


def test_questions_human_readable(home):
    done = run_cli("questions", home=home)
    assert done.returncode == 0
    assert "port  [int]  default: 8888" in done.stdout
    assert "project_name  [str]  (required)" in done.stdout


def test_defaults_take_project_name_from_destination(tmp_path, home):
    done = run_cli("new", tmp_path / "my-cool-app", "--defaults", home=home)
    assert done.returncode == 0, done.stderr
    answers = (tmp_path / "my-cool-app" / ".copier-answers.yml").read_text()
    assert "project_name: my-cool-app" in answers
    assert "project_slug: my_cool_app" in answers
    assert f"_commit: {__version__}" in answers
    assert "_src_path: ~/.cache/tornado-scaffold/template" in answers
    assert "cd " in done.stdout and "python app.py" in done.stdout and "pytest" in done.stdout


def test_existing_empty_folder_is_used(tmp_path, home):
    dest = tmp_path / "empty"
    dest.mkdir()
    done = run_cli("new", dest, "--defaults", home=home)
    assert done.returncode == 0, done.stderr
    assert (dest / "app.py").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


def _assert_refused(done, *fragments):
    assert done.returncode == 2, done.stdout + done.stderr
    message = done.stderr.strip()
    assert message.startswith("error: ")
    assert len(message.splitlines()) == 1, message
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        (
            ["project_name=My App", "project_slug=My-App"],
            ["project_slug", "lowercase Python identifier"],
        ),
        (
            ["project_name=9lives"],
            ["project_slug", "not starting with a digit", "--data project_slug="],
        ),
        (["project_name=  "], ["project_name", "must not be empty"]),
        (['project_name=say "hi"'], ["project_name", "double quotes"]),
        (["port=70000"], ["port", "70000", "1 to 65535"]),
        (["port=0"], ["port", "1 to 65535"]),
        (["port=http"], ["port", "'http'", "an integer"]),
        (
            ["colour=blue"],
            ["unknown answer key colour", "valid keys are project_name, project_slug"],
        ),
        (["websocket=maybe"], ["websocket", "true or false"]),
        (["auth_providers=google,myspace"], ["auth_providers", "subset of: google, github"]),
        (["tcp_echo=true", "tcp_port=8888"], ["tcp_port", "must differ from port"]),
        (["nonsense"], ["--data expects KEY=VALUE"]),
    ],
)
def test_bad_answers_are_refused_and_nothing_is_written(tmp_path, home, data, fragments):
    args = [arg for pair in data for arg in ("--data", pair)]
    done = run_cli("new", tmp_path / "app", "--defaults", *args, home=home)
    _assert_refused(done, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_non_empty_destination_is_refused_untouched(tmp_path, home):
    dest = tmp_path / "app"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    done = run_cli("new", dest, "--defaults", home=home)
    _assert_refused(done, "not empty", str(dest))
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    assert (dest / "notes.txt").read_text() == "mine"


def test_destination_that_is_a_file_is_refused(tmp_path, home):
    dest = tmp_path / "app"
    dest.write_text("x")
    _assert_refused(run_cli("new", dest, "--defaults", home=home), "not a folder")
    assert dest.read_text() == "x"


def test_missing_answers_without_terminal_are_refused(tmp_path, home):
    done = run_cli("new", tmp_path / "app", home=home)
    _assert_refused(done, "not a terminal", "--defaults", "--answers-file")
    assert list(tmp_path.iterdir()) == []


def test_nested_destination_parents_are_removed_on_failure(tmp_path, home):
    done = run_cli("new", tmp_path / "a" / "b" / "app", "--defaults", "--data", "port=0", home=home)
    _assert_refused(done, "port")
    assert list(tmp_path.iterdir()) == []


def test_template_error_is_one_line_and_leaves_nothing(tmp_path, home):
    def break_template(root):
        (root / "template" / "app.py.jinja").write_text("{{ unclosed ")

    site = fake_release(tmp_path / "site", "0.0.1.dev1", break_template)
    dest = tmp_path / "out" / "app"
    done = run_cli("new", dest, "--defaults", home=tmp_path / "home", pythonpath=site)
    _assert_refused(done, "template could not be rendered")
    assert not (tmp_path / "out").exists()


def test_interactive_prompts_on_a_terminal(tmp_path, home):
    """With a terminal, Copier's prompts ask every question; Enter accepts each default."""
    master, slave = pty.openpty()
    env = {**os.environ, "HOME": str(home), "TERM": "xterm", "COLUMNS": "120", "LINES": "40"}
    dest = tmp_path / "prompted"
    process = subprocess.Popen(
        [sys.executable, "-m", "tornado_scaffold", "new", str(dest)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    screen, deadline = b"", time.monotonic() + 60
    try:
        while process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.4)
            if ready:
                with contextlib.suppress(OSError):
                    screen += os.read(master, 65536)
            elif b"?" in screen or "🎤".encode() in screen:  # a prompt is waiting: accept it
                os.write(master, b"\r")
        assert process.wait(10) == 0, screen.decode(errors="replace")[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    text = screen.decode(errors="replace")
    assert "Default HTTP port" in text and "Add a WebSocket chat room" in text
    answers = (dest / ".copier-answers.yml").read_text()
    assert "project_name: prompted" in answers and "port: 8888" in answers


def test_unwritable_destination_is_one_line_not_a_traceback(tmp_path, home):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    _assert_refused(run_cli("new", blocker / "app", "--defaults", home=home), "cannot write")
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"] and blocker.read_text() == "mine"


def test_dangling_symlink_destination_is_refused(tmp_path, home):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    _assert_refused(run_cli("new", link, "--defaults", home=home), "not a folder")
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()
