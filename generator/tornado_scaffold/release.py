"""The release tool: ``python -m tornado_scaffold.release record|list``, run in the
repository with its editable install (README.md, "To release").

``record`` adds the template of this code, tagged with its version, to the
``history.bundle`` beside this code; ``list`` shows the releases that bundle holds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tornado_scaffold import history, source
from tornado_scaffold.errors import ScaffoldError

USAGE = "usage: python -m tornado_scaffold.release record|list"


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


def record() -> str:
    """The release step: the template of this code, tagged with its version, added to the
    bundle beside this code, which must be the repository's (an editable install)."""
    from packaging.version import Version

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
    if install.version in history.releases(install.bundle):
        found = history.problems(install.bundle, install.root, install.version)
        if found:
            raise ScaffoldError("; ".join(found))
        return f"{install.version} is recorded already in {install.bundle}"
    recorded = history.record(install.bundle, install.root, install.version)
    return f"recorded {install.version} in {install.bundle} ({', '.join(recorded)}): commit it"


def main(argv: list[str]) -> int:
    try:
        if argv == ["record"]:
            print(record())
        elif argv == ["list"]:
            print("\n".join(history.releases(source.installed().bundle)))
        else:
            print(USAGE, file=sys.stderr)
            return 2
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
