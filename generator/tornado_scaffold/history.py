"""The template's release history: a git bundle holding one tagged commit per release.

``history.bundle`` (committed, shipped in the package) lets Copier re-render any released
template version offline, which is what a three-way update needs. This module only
reads and writes git repositories and bundles at the paths it is given: the run-time
cache in ``source.py`` decides where, and ``release.py`` is the release tool.

Commits are made with fixed metadata, so the same template tree on the same parent
always gives the same commit: the history is reproducible from the committed files.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from tornado_scaffold import gitrepo, interrupts
from tornado_scaffold.errors import ScaffoldError

# Every git command here: reproducible, its output read.
_git = functools.partial(gitrepo.output, reproducible=True)


def by_version(tags: list[str]) -> list[str]:
    """The tags that are PEP 440 versions, oldest first."""
    from packaging.version import InvalidVersion, Version

    versions = {}
    for tag in tags:
        try:
            versions[tag] = Version(tag)
        except InvalidVersion:
            continue
    return sorted(versions, key=versions.__getitem__)


def releases(bundle: Path) -> list[str]:
    """The versions recorded in ``bundle``, oldest first."""
    if not bundle.is_file():
        return []
    heads = _git("bundle", "list-heads", str(bundle), cwd=bundle.parent)
    prefix = "refs/tags/"
    return by_version(
        [ref[len(prefix) :] for _, ref in (line.split() for line in heads.splitlines())]
    )


def template_files(root: Path) -> list[Path]:
    """What a template version is made of: ``copier.yml`` and ``template/``."""
    files = [root / "copier.yml"]
    files += sorted(
        p for p in (root / "template").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    return files


def write_tree(repo: Path, root: Path) -> str:
    """Store the template at ``root`` in ``repo``'s objects; return its tree id.

    The repository's work tree and index are left alone (other processes may be using
    it): the files are staged from a copy, through an index of their own.
    """
    with interrupts.scratch_folder("tornado-scaffold-stage-") as scratch:
        stage = scratch / "tree"
        stage.mkdir()
        for path in template_files(root):
            target = stage / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        env = {"GIT_INDEX_FILE": str(scratch / "index")}
        where = ["--git-dir", str(repo / ".git"), "--work-tree", str(stage)]
        _git(*where, "add", "--all", "--force", ".", cwd=stage, env=env)
        return _git(*where, "write-tree", cwd=stage, env=env)


def add_version(repo: Path, root: Path, version: str, bundle: Path) -> None:
    """Make the git repository ``repo`` hold every release of ``bundle``, plus the
    template at ``root`` tagged ``version``; tags already there are kept.

    A released version must be recorded with exactly this template: it can no longer
    change, since projects made from it are updated by re-rendering it.
    """
    recorded = releases(bundle)
    if recorded:
        _git("fetch", "--quiet", str(bundle), "+refs/tags/*:refs/tags/*", cwd=repo)
    tree = write_tree(repo, root)
    if version in recorded:
        if _git("rev-parse", f"{version}^{{tree}}", cwd=repo) != tree:
            raise ScaffoldError(
                f"the template differs from release {version} recorded in history.bundle: "
                "bump __version__ (e.g. to a .dev version) before changing a released template"
            )
        return
    parents = ["-p", f"{recorded[-1]}^{{commit}}"] if recorded else []
    commit = _git("commit-tree", tree, *parents, "-m", f"Template {version}", cwd=repo)
    _git("tag", "--force", version, commit, cwd=repo)


def record(bundle: Path, root: Path, version: str) -> list[str]:
    """Write ``bundle`` anew with the template at ``root`` tagged ``version`` added;
    return the versions it now holds. The bundle is replaced in one rename."""
    with interrupts.scratch_folder("tornado-scaffold-record-") as repo:
        _git("init", "--quiet", cwd=repo)
        add_version(repo, root, version, bundle)
        partial = bundle.with_name(f".{bundle.name}.{os.getpid()}")
        try:
            _git("bundle", "create", "--quiet", str(partial), "--tags", cwd=repo)
            os.replace(partial, bundle)
        finally:
            partial.unlink(missing_ok=True)
    return releases(bundle)


def problems(bundle: Path, root: Path, version: str) -> list[str]:
    """Why ``bundle`` does not hold release ``version`` as the template at ``root``.

    Empty when it does, or when ``version`` is a development version (``.devN``), which
    is not a release and need not be recorded.
    """
    from packaging.version import Version

    recorded = releases(bundle)
    found = [f"{v} is newer than {version}" for v in recorded if Version(v) > Version(version)]
    if Version(version).is_devrelease:
        return found
    if version not in recorded:
        return [*found, f"release {version} is not recorded in {bundle.name}"]
    with interrupts.scratch_folder("tornado-scaffold-verify-") as repo:
        _git("init", "--quiet", cwd=repo)
        try:
            add_version(repo, root, version, bundle)
        except ScaffoldError as error:
            found.append(str(error))
    return found


if __name__ == "__main__":  # the release tool's former name: say where it went, record nothing
    raise SystemExit(
        "error: the release tool is now `python -m tornado_scaffold.release record|list`"
    )
