"""The template's release history, shipped with the package and served to Copier offline.

Copier updates a project by re-rendering the template version recorded in its
``.copier-answers.yml`` (``_commit``) from the source recorded there (``_src_path``).
Both must work on any machine, offline, for projects made by any earlier release. So:

- ``history.bundle`` (committed, shipped in the package) is a git bundle holding one
  commit per release, tagged with the release's version;
- at run time that bundle, plus the installed template when its version is not a
  release yet, becomes a git repository at ``SOURCE`` in the user's cache;
- ``SOURCE`` is recorded literally as ``~/...``: Copier expands it when it reads it, so
  the recorded path is the same on every machine and for every user.

Commits are made with fixed metadata, so the same template tree always gives the same
commit: the history is reproducible from the committed files alone.

Release process: ``python -m tornado_scaffold.history record`` adds the template as it
is now, tagged with ``__version__``, to ``history.bundle``; commit the bundle with the
version bump.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tornado_scaffold import __version__, gitrepo
from tornado_scaffold.errors import ScaffoldError

SOURCE = "~/.cache/tornado-scaffold/template"
PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLE = PACKAGE_DIR / "history.bundle"
_STAMP = "tornado-scaffold-stamp"
_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "tornado-scaffold",
    "GIT_AUTHOR_EMAIL": "releases@tornado-scaffold.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "tornado-scaffold",
    "GIT_COMMITTER_EMAIL": "releases@tornado-scaffold.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}


def template_root() -> Path:
    """The folder holding ``copier.yml`` and ``template/`` for the installed version."""
    packaged = PACKAGE_DIR / "_template"  # wheels carry a copy inside the package
    if (packaged / "copier.yml").is_file():
        return packaged
    checkout = PACKAGE_DIR.parents[1]  # a source checkout: generator/tornado_scaffold
    if (checkout / "copier.yml").is_file():
        return checkout
    raise ScaffoldError(
        "the template is missing from this installation: reinstall tornado-scaffold"
    )


def source_path() -> Path:
    return Path(os.path.expanduser(SOURCE))


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, **_GIT_IDENTITY, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    unsigned = ["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
    return gitrepo.git(*unsigned, *args, cwd=cwd, env=env).stdout.strip()


def _template_files(root: Path) -> list[Path]:
    files = [root / "copier.yml"]
    files += sorted(
        p for p in (root / "template").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    return files


def _fingerprint(root: Path, version: str, bundle: Path) -> str:
    digest = hashlib.sha256(version.encode())
    if bundle.is_file():
        digest.update(bundle.read_bytes())
    for path in _template_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _stage_template(repo: Path, root: Path) -> str:
    """Replace the work tree of ``repo`` with the template at ``root``; return its tree id."""
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copy2(root / "copier.yml", repo / "copier.yml")
    shutil.copytree(
        root / "template", repo / "template", ignore=shutil.ignore_patterns("__pycache__")
    )
    _git("add", "--all", "--force", ".", cwd=repo)
    return _git("write-tree", cwd=repo)


def _tags(repo: Path) -> list[str]:
    from packaging.version import InvalidVersion, Version

    def key(tag: str) -> Version:
        try:
            return Version(tag)
        except InvalidVersion:
            return Version("0")

    return sorted(_git("tag", "--list", cwd=repo).split(), key=key)


def _init_with_releases(repo: Path, bundle: Path) -> list[str]:
    """Make ``repo`` a repository holding the release tags of ``bundle``; return them."""
    _git("init", "--quiet", cwd=repo)
    if bundle.is_file():
        _git("fetch", "--quiet", str(bundle), "refs/tags/*:refs/tags/*", cwd=repo)
    return _tags(repo)


def _build(repo: Path, root: Path, version: str, bundle: Path) -> None:
    """Fill the empty folder ``repo`` with every release in ``bundle`` plus ``version``."""
    tags = _init_with_releases(repo, bundle)
    tree = _stage_template(repo, root)
    if version in tags:
        recorded = _git("rev-parse", f"{version}^{{tree}}", cwd=repo)
        if recorded != tree:
            raise ScaffoldError(
                f"the template differs from release {version} recorded in history.bundle: "
                "bump __version__ (e.g. to a .dev version) before changing a released template"
            )
    else:
        parents = ["-p", f"{tags[-1]}^{{commit}}"] if tags else []
        commit = _git("commit-tree", tree, *parents, "-m", f"Template {version}", cwd=repo)
        _git("tag", version, commit, cwd=repo)
    _git("checkout", "--quiet", "--force", version, cwd=repo)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Serialise cache rebuilds between processes (several CLIs or test workers)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; rebuilds stay atomic by rename
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_source(version: str = __version__, bundle: Path = BUNDLE) -> str:
    """Make the cached template repository current; return the path to give Copier.

    The repository holds every release from the bundle and the installed template
    tagged ``version``. It is rebuilt only when the installed package changed.
    """
    root = template_root()
    target = source_path()
    stamp = _fingerprint(root, version, bundle)
    stamp_file = target / ".git" / _STAMP
    if stamp_file.is_file() and stamp_file.read_text() == stamp:
        return SOURCE
    try:
        with _locked(target.parent):
            if stamp_file.is_file() and stamp_file.read_text() == stamp:
                return SOURCE
            fresh = Path(tempfile.mkdtemp(prefix=".template-", dir=target.parent))
            try:
                _build(fresh, root, version, bundle)
                (fresh / ".git" / _STAMP).write_text(stamp)
                old = target.with_name(f".old-{os.getpid()}")
                if target.exists():
                    target.rename(old)
                fresh.rename(target)
                shutil.rmtree(old, ignore_errors=True)
            finally:
                shutil.rmtree(fresh, ignore_errors=True)
    except OSError as error:
        raise ScaffoldError(
            f"cannot prepare the template cache at {target}: {error.strerror}"
        ) from None
    return SOURCE


def record_release(version: str = __version__, bundle: Path = BUNDLE) -> None:
    """Add the template as it is now, tagged ``version``, to ``bundle``."""
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch)
        _build(repo, template_root(), version, bundle)
        partial = repo / "history.bundle"
        _git("bundle", "create", "--quiet", str(partial), "--tags", cwd=repo)
        shutil.copyfile(partial, bundle)


def releases(bundle: Path = BUNDLE) -> list[str]:
    """The versions recorded in ``bundle``, oldest first."""
    if not bundle.is_file():
        return []
    with tempfile.TemporaryDirectory() as scratch:
        return _init_with_releases(Path(scratch), bundle)


if __name__ == "__main__":
    if sys.argv[1:] == ["record"]:
        record_release()
        print(f"recorded {__version__} in {BUNDLE}: {', '.join(releases())}")
    elif sys.argv[1:] == ["list"]:
        print("\n".join(releases()))
    else:
        sys.exit("usage: python -m tornado_scaffold.history record|list")
