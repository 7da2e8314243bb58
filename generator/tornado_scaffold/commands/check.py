"""``check``: is a generated project at the installed template version? (For CI.)"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tornado_scaffold import generated, source


@dataclass(frozen=True)
class Checked:
    path: Path
    version: str  # the project's template version
    installed: str  # this tornado-scaffold's

    @property
    def behind(self) -> bool:
        return generated.parse_version(self.version) < generated.parse_version(self.installed)


def check(path: Path, *, install: source.Installation | None = None) -> Checked:
    """The project's and the installed template versions; refuses a project newer than
    the tool. Prepares the template source too, so plain `copier update` works after it."""
    install = install or source.installed()
    path = path.resolve()
    project = generated.read(path, install.questions())
    generated.refuse_newer(project, install.version)
    source.ensure(install, also=project.source)
    return Checked(path, project.version, install.version)
