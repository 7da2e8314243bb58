"""The slugs copier.yml refuses (``taken_names``) are exactly the names a generated project
installs: every distribution and top-level module in the dependency closure of a project
with every module on (run time, tests, build), read from the installed packages' metadata."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from conftest import REPO, invoke, render

# Not dependencies, but names a project must not take all the same: the installer, the
# interpreter's site module and the project's own tests folder.
ALSO_TAKEN = {"pip", "setuptools", "site", "tests"}
SLUG = re.compile(r"[a-z]([a-z0-9_]*[a-z0-9])?")


def _slug(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _requirements(project: Path) -> list[Requirement]:
    """What the project installs to run, test and build, as its own files say."""
    lines = (project / "requirements.txt").read_text().splitlines()
    lines += (project / "requirements-dev.txt").read_text().splitlines()
    build = re.search(r"requires = \[(.*?)\]", (project / "pyproject.toml").read_text(), re.S)
    lines += re.findall(r'"([^"]+)"', build[1])
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("-r")]


def _closure(roots: list[Requirement]) -> dict[str, metadata.Distribution | None]:
    """Every distribution reachable from ``roots``, on any platform and Python version
    (markers other than extras are not evaluated); None for one not installed here."""
    found: dict[str, metadata.Distribution | None] = {}
    extras_seen: dict[str, set[str]] = {}
    todo = list(roots)
    while todo:
        requirement = todo.pop()
        key = _slug(requirement.name)
        extras = set(requirement.extras)
        if key in found and extras <= extras_seen[key]:
            continue
        extras_seen.setdefault(key, set()).update(extras)
        try:
            found[key] = dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            found[key] = None
            continue
        for text in dist.requires or []:
            sub = Requirement(text)
            wanted = not (sub.marker and "extra" in str(sub.marker)) or any(
                sub.marker.evaluate({"extra": extra}) for extra in extras
            )
            if wanted:
                todo.append(sub)
    return found


def _top_level(dist: metadata.Distribution) -> set[str]:
    """The modules and packages a distribution puts in site-packages."""
    names = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__"):
            continue
        names.add(first.split(".")[0] if len(file.parts) == 1 else first)
    return names


@pytest.fixture(scope="module")
def every_module_project(tmp_path_factory, home) -> Path:
    return render(
        tmp_path_factory.mktemp("slugs") / "app",
        home,
        auth_providers=["google", "github", "facebook", "twitter", "oidc", "password"],
        database=True,
        blog=True,
        websocket=True,
        tcp_echo=True,
        git_init=False,
    )


def test_taken_names_are_the_dependency_closure(every_module_project):
    closure = _closure(_requirements(every_module_project))
    for name in ("pyjwt", "cryptography", "cffi", "pluggy", "iniconfig", "packaging", "greenlet"):
        assert name in closure, name  # the walk does reach transitive dependencies
    names = set(closure)
    for dist in closure.values():
        if dist is not None:
            names |= {name for name in _top_level(dist) if SLUG.fullmatch(name)}
    taken = yaml.safe_load((REPO / "copier.yml").read_text())["taken_names"]["default"]

    assert taken == sorted(taken)
    assert sorted(names - set(taken)) == [], "add these to copier.yml's taken_names"
    assert sorted(set(taken) - names - ALSO_TAKEN) == [], "no longer installed: remove them"


@pytest.mark.parametrize(
    "slug", ["pyjwt", "pluggy", "iniconfig", "cffi", "pycparser", "py", "greenlet", "mdurl"]
)
def test_a_slug_taken_by_a_transitive_dependency_is_refused(tmp_path, home, slug):
    done = invoke(
        "new", tmp_path / "app", "--defaults", "--data", f"project_slug={slug}", home=home
    )

    assert done.exit_code == 2, done.stdout
    assert done.stderr.startswith("error: invalid project_slug") and "package" in done.stderr
    assert list(tmp_path.iterdir()) == []
