"""The template's release history: a git bundle holding one tagged commit per release.

``history.bundle`` (committed, shipped in the package) lets Copier re-render any released
template version offline, which is what a three-way update needs. This module only
reads and writes git repositories and bundles at the paths it is given (the run-time
cache in ``source.py`` decides where), and is the release tool:
``python -m tornado_scaffold.history record`` in the repository (an editable install).

Commits are made with fixed metadata, so the same template tree on the same parent
always gives the same commit: the history is reproducible from the committed files.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tornado_scaffold import gitrepo, interrupts
from tornado_scaffold.errors import ScaffoldError

_IDENTITY = {
    "GIT_AUTHOR_NAME": "tornado-scaffold",
    "GIT_AUTHOR_EMAIL": "releases@tornado-scaffold.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "tornado-scaffold",
    "GIT_COMMITTER_EMAIL": "releases@tornado-scaffold.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}


def git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """git with fixed identity and dates, no system config, no prompts, no signing."""
    env = {
        **os.environ,
        **_IDENTITY,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        **(env or {}),
    }
    unsigned = ["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
    return gitrepo.git(*unsigned, *args, cwd=cwd, env=env).stdout.strip()


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
    heads = git("bundle", "list-heads", str(bundle), cwd=bundle.parent)
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
        git(*where, "add", "--all", "--force", ".", cwd=stage, env=env)
        return git(*where, "write-tree", cwd=stage, env=env)


def add_version(repo: Path, root: Path, version: str, bundle: Path) -> None:
    """Make the git repository ``repo`` hold every release of ``bundle``, plus the
    template at ``root`` tagged ``version``; tags already there are kept.

    A released version must be recorded with exactly this template: it can no longer
    change, since projects made from it are updated by re-rendering it.
    """
    recorded = releases(bundle)
    if recorded:
        git("fetch", "--quiet", str(bundle), "+refs/tags/*:refs/tags/*", cwd=repo)
    tree = write_tree(repo, root)
    if version in recorded:
        if git("rev-parse", f"{version}^{{tree}}", cwd=repo) != tree:
            raise ScaffoldError(
                f"the template differs from release {version} recorded in history.bundle: "
                "bump __version__ (e.g. to a .dev version) before changing a released template"
            )
        return
    parents = ["-p", f"{recorded[-1]}^{{commit}}"] if recorded else []
    commit = git("commit-tree", tree, *parents, "-m", f"Template {version}", cwd=repo)
    git("tag", "--force", version, commit, cwd=repo)


def record(bundle: Path, root: Path, version: str) -> list[str]:
    """Write ``bundle`` anew with the template at ``root`` tagged ``version`` added;
    return the versions it now holds. The bundle is replaced in one rename."""
    with interrupts.scratch_folder("tornado-scaffold-record-") as repo:
        git("init", "--quiet", cwd=repo)
        add_version(repo, root, version, bundle)
        partial = bundle.with_name(f".{bundle.name}.{os.getpid()}")
        try:
            git("bundle", "create", "--quiet", str(partial), "--tags", cwd=repo)
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
        git("init", "--quiet", cwd=repo)
        try:
            add_version(repo, root, version, bundle)
        except ScaffoldError as error:
            found.append(str(error))
    return found


def installed_by_an_installer(path: Path) -> bool:
    """Whether ``path`` was put in place by pip (or uv...): a file of an installed package,
    not of the repository. Editable installs list no package file."""
    from importlib import metadata

    try:
        dist = metadata.distribution("tornado-scaffold")
    except metadata.PackageNotFoundError:
        return False
    files = dist.files or []
    return any(Path(dist.locate_file(file)).resolve() == path.resolve() for file in files)


def ensure_source() -> str:
    """The template source for Copier, prepared (bench/cli.py calls it by this name)."""
    from tornado_scaffold import source

    return source.ensure()


def _record() -> str:
    """The release step: the template of this code, tagged with its version, added to the
    bundle beside this code, which must be the repository's (an editable install)."""
    from packaging.version import Version

    from tornado_scaffold import source

    install = source.installed()
    if installed_by_an_installer(install.bundle):
        raise ScaffoldError(
            f"{install.bundle} belongs to an installed package, not to the repository: in the "
            "repository, `pip install -e .` and run this again"
        )
    if Version(install.version).is_devrelease:
        raise ScaffoldError(
            f"__version__ is {install.version}, a development version: set it to the version "
            "being released in generator/tornado_scaffold/__init__.py first"
        )
    if install.version in releases(install.bundle):
        found = problems(install.bundle, install.root, install.version)
        if found:
            raise ScaffoldError("; ".join(found))
        return f"{install.version} is recorded already in {install.bundle}"
    recorded = record(install.bundle, install.root, install.version)
    return f"recorded {install.version} in {install.bundle} ({', '.join(recorded)}): commit it"


def main(argv: list[str]) -> int:
    """``python -m tornado_scaffold.history record|list``: the release tool."""
    from tornado_scaffold import source

    try:
        if argv == ["record"]:
            print(_record())
        elif argv == ["list"]:
            print("\n".join(releases(source.installed().bundle)))
        else:
            print("usage: python -m tornado_scaffold.history record|list", file=sys.stderr)
            return 2
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
