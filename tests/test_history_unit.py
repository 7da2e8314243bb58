"""Unit tests of the release history (history.bundle) and the run-time template cache, on
small templates: release lookup, recording, verification, and versions sharing a cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tornado_scaffold import gitrepo, history, source
from tornado_scaffold.errors import ScaffoldError


def template(root: Path, text: str) -> Path:
    (root / "template").mkdir(parents=True, exist_ok=True)
    (root / "copier.yml").write_text("_subdirectory: template\n")
    (root / "template" / "README.md").write_text(text)
    return root


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A bundle holding releases 1.0.0 and 1.2.0."""
    path = tmp_path / "history.bundle"
    history.record(path, template(tmp_path / "t1", "one\n"), "1.0.0")
    history.record(path, template(tmp_path / "t2", "two\n"), "1.2.0")
    return path


def test_releases_are_sorted_by_version_and_ignore_other_tags(tmp_path, bundle):
    for version in ("1.10.0", "1.9.0rc1"):
        history.record(bundle, template(tmp_path / version, version), version)
    assert history.releases(bundle) == ["1.0.0", "1.2.0", "1.9.0rc1", "1.10.0"]
    assert history.releases(tmp_path / "missing.bundle") == []
    assert history.by_version(["v-one", "2.0", "1.0"]) == ["1.0", "2.0"]


def test_recording_is_reproducible_and_linear(tmp_path, bundle):
    again = tmp_path / "again.bundle"
    history.record(again, tmp_path / "t1", "1.0.0")
    history.record(again, tmp_path / "t2", "1.2.0")
    repo = tmp_path / "repo"
    repo.mkdir()
    gitrepo.output("init", "--quiet", cwd=repo)
    for path in (bundle, again):
        gitrepo.output("fetch", "--quiet", str(path), f"+refs/tags/*:refs/{path.stem}/*", cwd=repo)
    for tag in ("1.0.0", "1.2.0"):  # the same files give the same commits
        ids = {
            gitrepo.output("rev-parse", f"refs/{p.stem}/{tag}", cwd=repo) for p in (bundle, again)
        }
        assert len(ids) == 1
    parent = gitrepo.output("rev-parse", "refs/again/1.2.0^", cwd=repo)
    assert parent == gitrepo.output("rev-parse", "refs/again/1.0.0", cwd=repo)


def test_a_release_cannot_be_recorded_with_another_template(tmp_path, bundle):
    before = bundle.read_bytes()
    with pytest.raises(ScaffoldError, match="differs from release 1.2.0"):
        history.record(bundle, template(tmp_path / "changed", "changed\n"), "1.2.0")
    assert bundle.read_bytes() == before
    assert history.record(bundle, tmp_path / "t2", "1.2.0") == ["1.0.0", "1.2.0"]  # same: fine


@pytest.mark.parametrize(
    ("version", "text", "expected"),
    [
        ("1.2.0", "two\n", []),
        ("1.3.0.dev0", "anything\n", []),  # not a release: need not be recorded
        ("1.3.0", "three\n", ["release 1.3.0 is not recorded in history.bundle"]),
        ("1.2.0", "edited\n", ["the template differs from release 1.2.0"]),
        ("1.1.0.dev0", "x\n", ["1.2.0 is newer than 1.1.0.dev0"]),
    ],
)
def test_problems_of_a_release(tmp_path, bundle, version, text, expected):
    found = history.problems(bundle, template(tmp_path / "now", text), version)
    assert len(found) == len(expected)
    for problem, start in zip(found, expected, strict=True):
        assert problem.startswith(start), problem


def installation(
    tmp_path: Path, version: str, text: str, releases: list[Path]
) -> source.Installation:
    """An installed tornado-scaffold whose bundle holds ``releases`` (earlier installs')."""
    folder = tmp_path / f"install-{version}"
    root = template(folder, text)
    bundle = folder / "history.bundle"
    for earlier in releases:
        shutil.copy2(earlier, bundle)
    return source.Installation(version, root, bundle)


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def tags(home: Path, path: str) -> list[str]:
    return gitrepo.output("tag", cwd=home / path.removeprefix("~/")).split()


def test_installed_versions_only_add_to_the_cache(tmp_path, home, bundle):
    older = installation(tmp_path, "1.2.0", "two\n", [bundle])
    newer = installation(tmp_path, "1.3.0.dev0", "three\n", [bundle])

    assert source.ensure(newer) == source.SOURCE
    source.ensure(older)  # the older one runs after the newer one

    for path in source.SOURCES:
        assert tags(home, path) == ["1.0.0", "1.2.0", "1.3.0.dev0"]
        assert source.has_version(path, "1.3.0.dev0")
        assert not source.has_version(path, "1.4.0")


def test_a_prepared_cache_is_not_touched_again(tmp_path, home, bundle, monkeypatch):
    install = installation(tmp_path, "1.2.0", "two\n", [bundle])
    source.ensure(install)

    def fail(*args, **kwargs):
        raise AssertionError("rebuilt")

    monkeypatch.setattr(history, "add_version", fail)
    source.ensure(install)  # the stamp matches: no git at all
    (install.root / "template" / "README.md").write_text("edited\n")
    with pytest.raises(AssertionError, match="rebuilt"):
        source.ensure(install)


def test_the_cache_of_0_1_keeps_its_stamp_and_work_tree(tmp_path, home, bundle):
    """0.1 rebuilds ~/.cache/tornado-scaffold/template whenever its own stamp file differs,
    dropping every later version: the stamp and its checkout are left as they are."""
    legacy = home / source.LEGACY_SOURCE.removeprefix("~/")
    legacy.mkdir(parents=True)
    gitrepo.output("init", "--quiet", cwd=legacy)
    gitrepo.output("fetch", "--quiet", str(bundle), "+refs/tags/1.0.0:refs/tags/1.0.0", cwd=legacy)
    gitrepo.output("checkout", "--quiet", "1.0.0", cwd=legacy)
    (legacy / ".git" / "tornado-scaffold-stamp").write_text("0.1's fingerprint")

    source.ensure(installation(tmp_path, "1.3.0.dev0", "three\n", [bundle]))

    assert tags(home, source.LEGACY_SOURCE) == ["1.0.0", "1.2.0", "1.3.0.dev0"]
    assert (legacy / ".git" / "tornado-scaffold-stamp").read_text() == "0.1's fingerprint"
    assert (legacy / "template" / "README.md").read_text() == "one\n"
    assert gitrepo.output("status", "--porcelain", cwd=legacy) == ""


def test_a_broken_cache_is_rebuilt(tmp_path, home, bundle):
    broken = home / source.SOURCE.removeprefix("~/")
    broken.mkdir(parents=True)
    (broken / "leftover.txt").write_text("not a repository")

    source.ensure(installation(tmp_path, "1.2.0", "two\n", [bundle]))

    assert tags(home, source.SOURCE) == ["1.0.0", "1.2.0"]
    assert not (broken / "leftover.txt").exists()


def test_an_unwritable_cache_is_one_line(tmp_path, home, bundle):
    home.mkdir()
    (home / ".cache").write_text("a file where the cache folder goes")
    with pytest.raises(ScaffoldError, match="cannot prepare the template cache at"):
        source.ensure(installation(tmp_path, "1.2.0", "two\n", [bundle]))
