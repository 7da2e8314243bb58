"""The repository's promises about itself: the README's commands and answers table, the
released template recorded in history.bundle, and a release path that writes it."""

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from tornado_scaffold import __version__, history, source

from conftest import PACKAGE, REPO

README = (REPO / "README.md").read_text()
BUNDLE = PACKAGE / "history.bundle"


def _fresh_machine_commands() -> list[str]:
    return re.findall(r"```sh\n(python3 -m venv .*)\n```", README)


def test_ci_runs_the_readme_test_command():
    test_command = next(c for c in _fresh_machine_commands() if "pytest" in c)
    assert test_command in (REPO / ".ci" / "run").read_text().splitlines()


def test_readme_generates_the_project_outside_the_clone():
    """A project inside the generator's repository gets no git repository, and no update."""
    command = next(c for c in _fresh_machine_commands() if "tornado-scaffold new" in c)
    words = shlex.split(command.split("tornado-scaffold new", 1)[1])
    dest = (REPO / words[0]).resolve()
    assert REPO not in (dest, *dest.parents), command


def test_repository_is_a_copier_template():
    copier_yml = (REPO / "copier.yml").read_text()
    assert "_subdirectory: template" in copier_yml
    assert (REPO / "template" / "{{_copier_conf.answers_file}}.jinja").is_file()


def test_readme_answers_table_matches_copier_yml():
    """Every question, in order, with its type and every choice; no computed value."""
    table = README.split("### Answers", 1)[1].split("\n\n", 2)[1]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]
    ]
    questions = source.installed().questions()
    assert [row[0].strip("`") for row in rows] == list(questions)
    for row in rows:
        question = questions[row[0].strip("`")]
        assert row[1] == question.type_label, row
        for choice in question.choices:
            assert f"`{choice}`" in row[3], (question.key, choice)


def test_the_released_version_is_recorded_with_this_template():
    """A release missing from the committed bundle could never be updated from."""
    assert history.problems(BUNDLE, REPO, __version__) == []
    recorded = history.releases(BUNDLE)
    assert recorded and all(str(pep440(tag)) == tag for tag in recorded)  # normalised


def pep440(tag: str):
    from packaging.version import Version

    return Version(tag)


@pytest.fixture
def checkout(tmp_path):
    """A copy of the repository's release inputs, as a maintainer's clone has them."""
    clone = tmp_path / "clone"
    shutil.copytree(REPO / "template", clone / "template")
    shutil.copy2(REPO / "copier.yml", clone / "copier.yml")
    shutil.copytree(
        PACKAGE,
        clone / "generator" / "tornado_scaffold",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return clone


def _set_version(clone, version):
    init = clone / "generator" / "tornado_scaffold" / "__init__.py"
    init.write_text(
        re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', init.read_text())
    )


def _release(pythonpath, *args, cwd):
    """`python -m tornado_scaffold.release ARGS`, importing the package from ``pythonpath``
    (a clone's generator/ folder, as its editable install does, or an installed copy)."""
    return subprocess.run(
        [sys.executable, "-m", "tornado_scaffold.release", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(pythonpath), "HOME": str(cwd / "home")},
        capture_output=True,
        text=True,
    )


def test_recording_writes_the_repository_bundle(checkout, tmp_path):
    bundle = checkout / "generator" / "tornado_scaffold" / "history.bundle"
    ours = BUNDLE.read_bytes()
    _set_version(checkout, "9.9.9")

    done = _release(checkout / "generator", "record", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert str(bundle) in done.stdout
    assert history.releases(bundle) == [*history.releases(BUNDLE), "9.9.9"]
    assert history.problems(bundle, checkout, "9.9.9") == []
    assert BUNDLE.read_bytes() == ours  # the package running the tests is untouched
    listed = _release(checkout / "generator", "list", cwd=tmp_path)
    assert listed.stdout.split() == history.releases(bundle)
    again = _release(checkout / "generator", "record", cwd=tmp_path)
    assert again.returncode == 0 and "recorded already" in again.stdout


def test_the_former_name_of_the_release_tool_says_where_it_went(checkout, tmp_path):
    bundle = checkout / "generator" / "tornado_scaffold" / "history.bundle"
    before = bundle.read_bytes()
    _set_version(checkout, "9.9.9")

    done = subprocess.run(
        [sys.executable, "-m", "tornado_scaffold.history", "record"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(checkout / "generator")},
        capture_output=True,
        text=True,
    )

    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "tornado_scaffold.release record" in done.stderr
    assert bundle.read_bytes() == before


def test_recording_refuses_a_development_version(checkout, tmp_path):
    bundle = checkout / "generator" / "tornado_scaffold" / "history.bundle"
    before = bundle.read_bytes()
    _set_version(checkout, "9.9.9.dev0")

    done = _release(checkout / "generator", "record", cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "development version" in done.stderr
    assert bundle.read_bytes() == before


def test_an_installed_package_runs_and_refuses_to_record(tmp_path):
    """What `pip install .` installs makes projects from its own template, and the release
    step run there refuses: that bundle is not the repository's."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("tornado_scaffold-*.whl")
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    bundle = site / "tornado_scaffold" / "history.bundle"
    assert (site / "tornado_scaffold" / "_template" / "copier.yml").is_file() and bundle.is_file()
    before = bundle.read_bytes()

    refused = _release(site, "record", cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site), "HOME": str(tmp_path / "home")}
    made = subprocess.run(
        [sys.executable, "-m", "tornado_scaffold", "new", "app", "--defaults"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "installed package" in refused.stderr and "pip install -e ." in refused.stderr
    assert bundle.read_bytes() == before
    assert made.returncode == 0, made.stderr
    answers = yaml.safe_load((tmp_path / "app" / ".copier-answers.yml").read_text())
    assert answers["_commit"] == __version__


# What Windows (and so a checkout or a wheel there) cannot hold in a file name.
NOT_ON_WINDOWS = re.compile(r'[<>:"|?*\\\x00-\x1f]')
RESERVED_ON_WINDOWS = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.IGNORECASE)


def test_every_path_of_the_repository_is_portable():
    """Every tracked path (the template's conditional names included) can be checked out on
    Windows and macOS: no character or name Windows refuses, no trailing dot or space, no two
    paths that differ only in case, none too long for Windows' 260-character limit."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    paths = [path for path in listed.split("\0") if path]
    assert any(path.startswith("template/{% if") for path in paths)  # the names that matter
    problems = []
    for path in paths:
        for part in path.split("/"):
            if NOT_ON_WINDOWS.search(part) or RESERVED_ON_WINDOWS.fullmatch(part):
                problems.append(f"{path}: {part!r} is not a file name on Windows")
            elif part.endswith((".", " ")):
                problems.append(f"{path}: {part!r} ends with a dot or a space")
        if len(path) > 180:  # leaves room for the folder the repository is cloned into
            problems.append(f"{path}: {len(path)} characters")
    folded: dict[str, str] = {}
    for path in paths:
        other = folded.setdefault(path.lower(), path)
        if other != path:
            problems.append(f"{path} and {other} differ only in case")
    assert not problems, "\n".join(problems)
