"""The CLI as a user meets it: help, version, questions, `new` and every refused input.

Most tests run the CLI in this process (Typer's runner, HOME set to a test folder);
a subprocess is used where the process is the point: start-up imports, a terminal, a
signal, a mount namespace.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from tornado_scaffold import __version__, source

from conftest import REPO, fake_release, interrupt_when, invoke

COPIER_YML = yaml.safe_load((REPO / "copier.yml").read_text())
# The questions, straight from copier.yml: settings start with _, computed values are
# never asked (when: false).
QUESTIONS = {
    key: spec
    for key, spec in COPIER_YML.items()
    if not key.startswith("_") and not (isinstance(spec, dict) and spec.get("when") is False)
}
PROVIDERS = [q.choices for q in source.installed().questions().values() if q.multiselect][0]


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "NO_COLOR": "1", **extra}


def assert_refused(done, *fragments: str) -> None:
    """Exit 2 and one ``error:`` line holding ``fragments``; for a Result or a process."""
    code = getattr(done, "exit_code", getattr(done, "returncode", None))
    assert code == 2, done.stdout + done.stderr
    message = done.stderr.strip()
    assert message.startswith("error: ")
    assert len(message.splitlines()) == 1, message
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in message


def test_version(home):
    done = invoke("--version", home=home)
    assert done.exit_code == 0
    assert done.stdout.strip() == f"tornado-scaffold {__version__}"


def _imported(done: subprocess.CompletedProcess) -> set[str]:
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines()}


def test_help_and_shell_completion_do_not_import_copier(home):
    command = [sys.executable, "-X", "importtime", "-m", "tornado_scaffold"]
    helped = subprocess.run(
        [*command, "--help"], env=_env(home), capture_output=True, text=True, check=True
    )
    completed = subprocess.run(  # what bash asks when the user types `tornado-scaffold up<TAB>`
        command,
        env=_env(
            home,
            _TORNADO_SCAFFOLD_COMPLETE="complete_bash",
            COMP_WORDS="tornado-scaffold up",
            COMP_CWORD="1",
        ),
        capture_output=True,
        text=True,
    )

    assert "tornado-scaffold new my-app" in helped.stdout
    assert "--install-completion" in helped.stdout
    assert completed.stdout.split() == ["update"], completed.stdout + completed.stderr
    for done in (helped, completed):
        imported = _imported(done)
        assert "tornado_scaffold.cli" in imported
        assert not any(name == "copier" or name.startswith("copier.") for name in imported)


def test_questions_json_lists_every_question_of_copier_yml(home):
    import json

    done = invoke("questions", "--json", home=home)

    assert done.exit_code == 0, done.stderr
    listed = {q["key"]: q for q in json.loads(done.stdout)}
    assert list(listed) == list(QUESTIONS)
    for key, spec in QUESTIONS.items():
        question = listed[key]
        assert question["required"] is ("default" not in spec and "when" not in spec)
        assert question["multiselect"] is bool(spec.get("multiselect"))
        kind = spec.get("type", "str")
        assert question["type"] == (f"list[{kind}]" if spec.get("multiselect") else kind), key
        if "{{" in str(spec.get("default")):  # computed: null, and from which answers
            assert question["default"] is None and question["default_is_template"], key
            assert question["default_derived_from"], key
        elif "default" in spec:
            assert question["default"] == spec["default"], key
        if isinstance(spec.get("choices"), dict):
            assert question["choices"] == [str(v) for v in spec["choices"].values()], key
        elif spec.get("choices"):  # rendered from a computed value: a non-empty list
            assert question["choices"] and all(question["choices"]), key


def test_questions_human_readable(home):
    done = invoke("questions", home=home)

    assert done.exit_code == 0
    for key in QUESTIONS:
        assert f"\n{key}  [" in f"\n{done.stdout}", key
    required = [k for k, s in QUESTIONS.items() if "default" not in s and "when" not in s]
    for key in required:
        assert f"{key}  [{QUESTIONS[key].get('type', 'str')}]  (required)" in done.stdout


@pytest.mark.parametrize("form", [[], ["--json"]], ids=["text", "json"])
def test_questions_say_defaults_and_conditions_in_words_not_jinja(home, form):
    import json

    done = invoke("questions", *form, home=home)

    assert done.exit_code == 0, done.stderr
    for jinja in ("{{", "}}", "{%", "regex_replace", "| lower"):
        assert jinja not in done.stdout, jinja
    if form:
        listed = {q["key"]: q for q in json.loads(done.stdout)}
        assert listed["project_slug"]["default_derived_from"] == ["project_name"]
        assert listed["tcp_port"]["when"] == "tcp_echo is true"
    else:
        assert "project_slug  [str]  default: derived from project_name\n" in done.stdout
        assert "    asked only when tcp_echo is true\n" in done.stdout


def test_new_usage_line_names_dest_plainly():
    done = invoke("new", "--help", home=Path("/nonexistent"))

    assert done.exit_code == 0
    assert "Usage: tornado-scaffold new [OPTIONS] DEST\n" in done.stdout
    assert "{DEST}" not in done.stdout


def test_defaults_take_project_name_from_destination(tmp_path, home):
    done = invoke("new", tmp_path / "my-cool-app", "--defaults", home=home)

    assert done.exit_code == 0, done.stderr
    answers = yaml.safe_load((tmp_path / "my-cool-app" / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "my-cool-app"
    assert answers["project_slug"] == "my_cool_app"
    assert answers["_commit"] == __version__
    assert answers["_src_path"] == "~/.cache/tornado-scaffold/history"
    assert "cd " in done.stdout and "python app.py" in done.stdout and "pytest" in done.stdout


def _next_steps(stdout: str) -> str:
    return stdout.split("Next steps:\n", 1)[1]


def _commands(steps: str) -> list[str]:
    return [
        line.strip() for line in steps.splitlines() if line.startswith("  ") and "#" not in line[:4]
    ]


def test_next_steps_name_what_this_project_needs(tmp_path, home):
    dest = tmp_path / "my app"
    done = invoke(
        "new",
        dest,
        "--defaults",
        "--data",
        "auth_providers=github,oidc",
        "--data",
        "websocket=true",
        "--data",
        "tcp_echo=true",
        "--data",
        "port=9000",
        "--data",
        "tcp_port=9001",
        "--data",
        "git_init=false",
        home=home,
    )

    assert done.exit_code == 0, done.stderr
    steps = _next_steps(done.stdout)
    commands = _commands(steps)
    assert commands[0] == f"cd '{dest}'"
    assert commands[1] == "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt"
    assert "export COOKIE_SECRET=" in steps
    assert "export GITHUB_CLIENT_ID=... GITHUB_CLIENT_SECRET=..." in commands
    assert "export OIDC_ISSUER=... OIDC_CLIENT_ID=... OIDC_CLIENT_SECRET=..." in commands
    assert "http://127.0.0.1:9000/auth/github/login" in steps
    assert "http://127.0.0.1:9000/auth/oidc/login" in steps
    assert "open http://127.0.0.1:9000/" in steps and "http://127.0.0.1:9000/chat" in steps
    assert "nc 127.0.0.1 9001" in commands
    assert "Redis" in steps and "--processes" in steps
    for name in ("GOOGLE", "FACEBOOK", "TWITTER"):
        assert name not in steps
    # a stock Debian has python3 and no python: every command runs there
    assert not re.search(r"(^|[\s;&|(])python\s", "\n".join(commands)), commands
    # the block is a shell script to copy (comments included), in the project's folder
    script = "\n".join(line[2:] for line in steps.splitlines() if line.startswith("  "))
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


def test_next_steps_of_a_plain_project_name_nothing_it_lacks(tmp_path, home):
    done = invoke("new", tmp_path / "app", "--defaults", "--data", "git_init=false", home=home)

    assert done.exit_code == 0, done.stderr
    steps = _next_steps(done.stdout)
    assert "COOKIE_SECRET" in steps and "open http://127.0.0.1:8888/" in steps
    for absent in ("CLIENT_ID", "Redis", "/chat", "nc "):
        assert absent not in steps, absent


def _listed_files(stdout: str) -> list[str]:
    """The files `new` says it wrote: the indented lines after its first line."""
    lines = stdout.splitlines()
    assert re.match(r"(Created|Would create) .* files:$", lines[0]), lines[0]
    return [line[2:] for line in itertools.takewhile(lambda text: text.startswith("  "), lines[1:])]


def _tree(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] != ".git"
    )


def test_new_lists_the_files_it_wrote(tmp_path, home):
    dest = tmp_path / "app"
    done = invoke("new", dest, "--defaults", "--data", "websocket=true", home=home)

    assert done.exit_code == 0, done.stderr
    listed = _listed_files(done.stdout)
    assert listed == _tree(dest)
    assert "chat/room.py" in listed and ".copier-answers.yml" in listed
    assert re.match(
        rf"Created {re.escape(str(dest))} \(template .*\), {len(listed)} files:", done.stdout
    )


def test_pretend_checks_and_lists_but_writes_nothing(tmp_path, home):
    dest = tmp_path / "a" / "b" / "app"
    args = ("--defaults", "--data", "auth_providers=github", "--data", "git_init=false")

    pretended = invoke("new", dest, *args, "--pretend", home=home)
    refused = invoke("new", dest, "--defaults", "--data", "port=0", "--pretend", home=home)

    assert pretended.exit_code == 0, pretended.stderr
    assert pretended.stdout.startswith(f"Would create {dest} ")
    assert "Nothing was written" in pretended.stdout
    assert "Next steps" not in pretended.stdout
    assert list(tmp_path.iterdir()) == []  # not even the parent folders
    assert_refused(refused, "port")
    assert list(tmp_path.iterdir()) == []
    made = invoke("new", dest, *args, home=home)
    assert made.exit_code == 0, made.stderr
    assert _listed_files(pretended.stdout) == _tree(dest)  # exactly what a real run writes


def test_vcs_ref_makes_a_project_from_an_earlier_release(tmp_path, home):
    from tornado_scaffold import history

    # The newest release before this version (which, once released, is in the bundle too).
    releases = history.releases(source.installed().bundle)
    earlier = [v for v in releases if Version(v) < Version(Version(__version__).base_version)][-1]
    dest = tmp_path / "old"

    done = invoke("new", dest, "--defaults", "--vcs-ref", earlier, home=home)

    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith(f"Created {dest} (template {earlier})")
    assert yaml.safe_load((dest / ".copier-answers.yml").read_text())["_commit"] == earlier
    checked = invoke("check", dest, home=home)
    assert checked.exit_code == 1 and "behind" in checked.stdout  # `update` takes it on


def test_vcs_ref_that_is_not_a_release_is_refused(tmp_path, home):
    from tornado_scaffold import history

    done = invoke("new", tmp_path / "app", "--defaults", "--vcs-ref", "9.9.9", home=home)

    assert_refused(done, "'9.9.9'", "not in this tornado-scaffold's history", __version__)
    assert history.releases(source.installed().bundle)[0] in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_existing_empty_folder_keeps_its_mode_and_identity(tmp_path, home):
    dest = tmp_path / "empty"
    dest.mkdir()
    dest.chmod(0o751)
    before = dest.stat()

    done = invoke("new", dest, "--defaults", home=home)

    assert done.exit_code == 0, done.stderr
    after = dest.stat()
    assert (after.st_ino, after.st_mode, after.st_uid) == (
        before.st_ino,
        before.st_mode,
        before.st_uid,
    )
    assert (dest / "app.py").is_file() and (dest / ".git").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]  # no scratch left beside
    assert not list(dest.glob(".tornado-scaffold-*"))  # nor inside


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_new_project_folder_mode_follows_the_umask(tmp_path, home, umask):
    previous = os.umask(umask)
    try:
        done = invoke("new", tmp_path / "app", "--defaults", "--data", "git_init=false", home=home)
    finally:
        os.umask(previous)

    assert done.exit_code == 0, done.stderr
    assert (tmp_path / "app").stat().st_mode & 0o777 == 0o777 & ~umask


def test_empty_mount_point_is_a_destination(tmp_path, home):
    """A mount point cannot be renamed over: the project is made inside it."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    dest = tmp_path / "mnt"
    dest.mkdir()
    script = (
        'mount -t tmpfs tmpfs "$1" || exit 77; '
        '"$2" -m tornado_scaffold new "$1" --defaults --data git_init=false >/dev/null || exit; '
        'test -f "$1/app.py" && ls -A "$1" | grep -c tornado-scaffold; ls -A "$3"'
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", dest, sys.executable, tmp_path],
        env=_env(home),
        capture_output=True,
        text=True,
    )
    if done.returncode == 77 or "unshare failed" in done.stderr:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "mnt"]  # no scratch inside, nothing beside


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        pytest.param(
            ["project_name=My App", "project_slug=My-App"],
            ["project_slug", "(got 'My-App')", "lowercase Python identifier"],
            id="slug-not-identifier",
        ),
        pytest.param(
            ["project_slug=9lives"], ["project_slug", "starting with a letter"], id="slug-digit"
        ),
        pytest.param(["project_slug=_x"], ["project_slug", "starting with a letter"], id="slug-_x"),
        pytest.param(
            ["project_slug=tornado"], ["project_slug", "tornado", "package"], id="slug-tornado"
        ),
        pytest.param(
            ["project_name=2024"],
            ["project_slug", "derived from project_name", "--data project_slug="],
            id="no-letters",
        ),
        pytest.param(["project_name=  "], ["project_name", "must not be empty"], id="empty"),
        pytest.param(
            ["project_name=say\x7fhi"], ["project_name", "control characters"], id="name-del"
        ),
        pytest.param(
            ["description=one\x7ftwo"], ["description", "control characters"], id="description-del"
        ),
        pytest.param(
            ["author_name=Ada\x7f"], ["author_name", "control characters"], id="author-del"
        ),
        pytest.param(
            ["description=two\nlines"], ["description", "one line"], id="description-newline"
        ),
        *[
            pytest.param(
                [f"{key}=admin{char}x"],
                [key, "invisible format characters"],
                id=f"{key}-U+{ord(char):04X}",
            )
            for key in ("project_name", "description", "author_name")
            for char in ("\u202e", "\u2067", "\u2069", "\ufeff", "\u200b", "\u00ad")
        ],
        pytest.param(["port=70000"], ["port", "70000", "1 to 65535"], id="port-high"),
        pytest.param(["port=0"], ["port", "1 to 65535"], id="port-zero"),
        pytest.param(["port=http"], ["port", "'http'", "an integer"], id="port-word"),
        pytest.param(["port=" + "9" * 5000], ["port", "30 digits"], id="port-5000-digits"),
        pytest.param(
            ["colour=blue"],
            ["unknown answer key colour", "valid keys are " + ", ".join(list(QUESTIONS)[:2])],
            id="unknown-key",
        ),
        pytest.param(["websocket=maybe"], ["websocket", "true or false"], id="bool"),
        pytest.param(
            ["auth_providers=myspace"], ["auth_providers", "subset of: " + ", ".join(PROVIDERS)]
        ),
        pytest.param(
            ["auth_providers=[myspace"], ["auth_providers", "not valid YAML"], id="bad-yaml-list"
        ),
        pytest.param(
            ["tcp_echo=true", "tcp_port=8888"], ["tcp_port", "must differ from port"], id="tcp"
        ),
        pytest.param(["nonsense"], ["--data expects KEY=VALUE"], id="no-equals"),
    ],
)
def test_bad_answers_are_refused_and_nothing_is_written(tmp_path, home, data, fragments):
    args = [arg for pair in data for arg in ("--data", pair)]
    done = invoke("new", tmp_path / "app", "--defaults", *args, home=home)
    assert_refused(done, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_tcp_port_may_equal_port_when_the_echo_server_is_off(tmp_path, home):
    done = invoke(
        "new",
        tmp_path / "app",
        "--defaults",
        "--data",
        "tcp_port=8888",
        "--data",
        "git_init=false",
        home=home,
    )

    assert done.exit_code == 0, done.stderr
    assert "tcp_echo: false" in (tmp_path / "app" / ".copier-answers.yml").read_text()


def test_a_name_too_long_for_a_slug_says_how_to_set_the_slug(tmp_path, home):
    """260 characters used to fail writing `<slug>.pth`: the slug is what is too long."""
    done = invoke(
        "new", tmp_path / "f0", "--defaults", "--data", "project_name=" + "n" * 260, home=home
    )

    assert_refused(
        done, "project_slug", "derived from project_name", "at most 64", "--data project_slug="
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("form", ["[{0}, {1}]", "{0},{1}", "['{0}', \"{1}\"]"])
def test_list_answers_in_yaml_or_comma_form(tmp_path, home, form):
    first, second = PROVIDERS[:2]
    data = f"auth_providers={form.format(first, second)}"

    done = invoke(
        "new", tmp_path / "app", "--defaults", "--data", data, "--data", "git_init=false", home=home
    )

    assert done.exit_code == 0, done.stderr
    answers = yaml.safe_load((tmp_path / "app" / ".copier-answers.yml").read_text())
    assert sorted(answers["auth_providers"]) == sorted([first, second])


def test_non_empty_destination_is_refused_untouched(tmp_path, home):
    dest = tmp_path / "app"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    assert_refused(invoke("new", dest, "--defaults", home=home), "not empty", str(dest))
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    assert (dest / "notes.txt").read_text() == "mine"


def test_destination_that_is_a_file_is_refused(tmp_path, home):
    dest = tmp_path / "app"
    dest.write_text("x")
    assert_refused(invoke("new", dest, "--defaults", home=home), "not a folder")
    assert dest.read_text() == "x"


def test_missing_answers_without_terminal_are_refused(tmp_path, home):
    done = invoke("new", tmp_path / "app", home=home)
    assert_refused(done, "not a terminal", "--defaults", "--answers-file")
    assert list(tmp_path.iterdir()) == []


def test_nested_destination_parents_are_removed_on_failure(tmp_path, home):
    done = invoke("new", tmp_path / "a" / "b" / "app", "--defaults", "--data", "port=0", home=home)
    assert_refused(done, "port")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "dest",
    [
        pytest.param(lambda base: base / ("d" * 300), id="name-past-255-bytes"),
        pytest.param(lambda base: base.joinpath(*["d" * 200] * 25), id="path-past-4096-bytes"),
    ],
)
def test_names_past_the_file_system_limits_are_refused(tmp_path, home, dest):
    dest = dest(tmp_path)
    for command in (["new", dest, "--defaults"], ["check", dest]):
        done = invoke(*command, home=home)
        assert_refused(done, "File name too long")
    assert list(tmp_path.iterdir()) == []


def test_template_error_is_one_line_and_leaves_nothing(tmp_path, home, monkeypatch):
    def break_template(root):
        (root / "template" / "README.md.jinja").write_text("{{ unclosed ")

    site = fake_release(tmp_path / "site", "0.0.1.dev1", break_template)
    package = site / "tornado_scaffold"
    release = source.Installation("0.0.1.dev1", package / "_template", package / "history.bundle")
    monkeypatch.setattr(source, "installed", lambda: release)
    dest = tmp_path / "out" / "app"

    done = invoke("new", dest, "--defaults", home=tmp_path / "home")

    assert_refused(done, "template could not be rendered", "README.md.jinja")
    assert not (tmp_path / "out").exists()


def test_unwritable_destination_is_one_line_not_a_traceback(tmp_path, home):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    assert_refused(invoke("new", blocker / "app", "--defaults", home=home), "cannot ")
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"] and blocker.read_text() == "mine"


def test_dangling_symlink_destination_is_refused(tmp_path, home):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    assert_refused(invoke("new", link, "--defaults", home=home), "not a folder")
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


def _on_a_terminal(argv: list[str], env: dict[str, str], keys: bytes) -> tuple[int, str]:
    """Run ``argv`` on a pseudo-terminal; whenever a prompt waits, type ``keys``."""
    master, slave = pty.openpty()
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    screen, deadline = b"", time.monotonic() + 60
    try:
        while process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                with contextlib.suppress(OSError):
                    screen += os.read(master, 65536)
            elif b"?" in screen or "🎤".encode() in screen:  # a prompt is waiting
                os.write(master, keys)
        code = process.wait(10)
        with contextlib.suppress(OSError):
            while select.select([master], [], [], 0.1)[0]:
                screen += os.read(master, 65536)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return code, screen.decode(errors="replace")


def _terminal_env(home: Path) -> dict[str, str]:
    # No cursor-position requests: this terminal would not answer them (prompt_toolkit waits).
    return _env(home, TERM="xterm", COLUMNS="120", LINES="40", PROMPT_TOOLKIT_NO_CPR="1")


def test_interactive_prompts_on_a_terminal(tmp_path, home):
    """With a terminal, Copier's prompts ask every question; Enter accepts each default."""
    dest = tmp_path / "prompted"
    code, text = _on_a_terminal(
        [sys.executable, "-m", "tornado_scaffold", "new", str(dest)], _terminal_env(home), b"\r"
    )

    assert code == 0, text[-2000:]
    for key in ("port", "websocket"):
        assert " ".join(QUESTIONS[key]["help"].split()) in text
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "prompted"
    assert answers["port"] == QUESTIONS["port"]["default"]


def test_ctrl_c_at_a_prompt_is_exit_130_and_one_short_line(tmp_path, home):
    dest = tmp_path / "prompted"
    code, text = _on_a_terminal(
        [sys.executable, "-m", "tornado_scaffold", "new", str(dest)], _terminal_env(home), b"\x03"
    )

    assert code == 130, text[-2000:]
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # no colours, no cursor moves
    errors = [line for line in plain.splitlines() if "error:" in line]
    assert len(errors) == 1, plain[-2000:]
    assert errors[0].endswith("error: interrupted: nothing was written") and len(errors[0]) < 120
    assert "Traceback" not in text and sys.executable not in text
    assert list(tmp_path.iterdir()) == []


# A Ctrl-C read as a key at a prompt (prompt_toolkit's KeyboardInterrupt), then a second one,
# a real SIGINT now that the prompt has given the terminal back, just as the first is reported.
_SECOND_CTRL_C = """
import os, signal, sys
import typer
from tornado_scaffold import cli, interrupts

write = typer.secho
def secho(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)  # handled before the next line runs
    write(*args, **kwargs)
typer.secho = secho
interrupts.install()
try:
    with cli._reported("nothing was written"):
        raise KeyboardInterrupt
except typer.Exit as done:
    sys.exit(done.exit_code)
"""


def test_a_second_ctrl_c_while_the_first_is_reported_changes_nothing(tmp_path, home):
    """Seen in test_ctrl_c_at_a_prompt_is_exit_130_and_one_short_line, whose terminal goes
    on typing Ctrl-C: exit 130 and no line at all, the second interrupt having cut it."""
    done = subprocess.run(
        [sys.executable, "-c", _SECOND_CTRL_C],
        cwd=tmp_path,
        env=_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (130, "error: interrupted: nothing was written\n")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_a_signal_during_new_leaves_nothing_behind(tmp_path, home, signum):
    """No project, no hidden scratch folder beside it, none of Copier's folders in TMPDIR."""
    work, scratch = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    assert invoke("questions", home=home).exit_code == 0  # the template cache is ready

    def rendering() -> bool:
        return any(work.iterdir())

    done = interrupt_when(
        rendering, signum, "new", "app", "--defaults", cwd=work, env=_env(home, TMPDIR=str(scratch))
    )

    assert done.returncode == 128 + signum, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == ["error: interrupted: nothing was written"]
    assert list(work.iterdir()) == []
    assert list(scratch.iterdir()) == []


class Terminal:
    """A program on a pseudo-terminal of a given size, its screen kept by a terminal
    emulator (pyte), as a person would see it."""

    def __init__(self, argv: list[str], env: dict[str, str], columns: int, rows: int = 50):
        import fcntl
        import struct
        import termios

        import pyte

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.screen = pyte.Screen(columns, rows)
        self.screen.set_mode(pyte.modes.LNM)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def _read(self, timeout: float) -> bool:
        if not select.select([self.master], [], [], timeout)[0]:
            return False
        try:
            self.stream.feed(os.read(self.master, 65536))
        except OSError:  # the program ended and closed the terminal
            return False
        return True

    def wait_for(self, needle: str, timeout: float = 60) -> str:
        """The screen once ``needle`` is on it and the program has finished drawing."""
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert time.monotonic() < deadline, self.text()
            self._read(0.5)
        while self._read(0.2):  # the rest of the same redraw
            pass
        return self.text()

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> int:
        try:
            return self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self.master)


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("columns", [80, 120])
def test_long_prompts_wrap_instead_of_being_cut(tmp_path, home, columns):
    """prompt_toolkit cuts a line at the right edge: the sign-in question and the OpenID
    Connect choice lost their ends at 80 and 120 columns."""
    questions = source.installed().questions()
    given = [
        f"--data={key}={value}"
        for key, value in {
            "project_name": "Wrapped",
            "description": "x",
            "author_name": "",
            "port": "8888",
            "websocket": "false",
            "tcp_echo": "false",
            "database": "false",
            "docker": "false",
            "ci": "none",
            "git_init": "false",
        }.items()
    ]
    env = _env(home, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")  # the size is the terminal's
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    terminal = Terminal(
        [sys.executable, "-m", "tornado_scaffold", "new", str(tmp_path / "app"), *given],
        env,
        columns,
    )
    try:
        slug_screen = terminal.wait_for("Python identifier")
        terminal.type(b"\r")
        choices_screen = terminal.wait_for("OpenID Connect (")
        terminal.type(b"\r")
    finally:
        code = terminal.close()

    assert code == 0, terminal.text()
    assert _words(questions["project_slug"].help) in _words(slug_screen), slug_screen
    assert _words(questions["auth_providers"].help) in _words(choices_screen), choices_screen
    assert (
        "OpenID Connect (tornado.auth.OAuth2Mixin with discovery, PKCE and verified ID tokens)"
        in _words(choices_screen)
    ), choices_screen
    for line in (slug_screen + "\n" + choices_screen).splitlines():
        assert len(line) < columns, line  # nothing reaches the edge, where it would be cut


def test_a_blog_asked_at_the_prompts_gets_password_sign_in_by_default(tmp_path, home):
    """Issue 18: a blog must be writable out of the box. database and blog are asked before
    the sign-in providers, whose default then holds password: at the prompts as with
    --defaults and answers files (tests/test_answers_file.py)."""
    given = [
        f"--data={key}={value}"
        for key, value in {
            "project_name": "Prompted Blog",
            "project_slug": "prompted_blog",
            "description": "x",
            "author_name": "",
            "port": "8888",
            "websocket": "false",
            "tcp_echo": "false",
            "docker": "false",
            "ci": "none",
            "git_init": "false",
        }.items()
    ]
    env = _env(home, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    terminal = Terminal(
        [sys.executable, "-m", "tornado_scaffold", "new", str(tmp_path / "app"), *given], env, 120
    )
    try:
        terminal.wait_for("Add a database")
        # "y" alone: a yes/no question takes it at once, and an Enter after it would answer
        # the next question before its screen is read (this test raced so once).
        terminal.type(b"y")
        terminal.wait_for("Add a blog")
        terminal.type(b"\r")  # its default: yes
        choices_screen = terminal.wait_for("OpenID Connect (")
        terminal.type(b"\r")  # the providers as offered
    finally:
        code = terminal.close()

    assert code == 0, terminal.text()
    answers = yaml.safe_load((tmp_path / "app" / ".copier-answers.yml").read_text())
    assert (answers["database"], answers["blog"], answers["auth_providers"]) == (
        True,
        True,
        ["password"],
    ), choices_screen
