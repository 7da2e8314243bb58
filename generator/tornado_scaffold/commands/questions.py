"""``questions``: the answer keys, with their types, defaults and choices."""

from __future__ import annotations

from tornado_scaffold import source
from tornado_scaffold.questions import Question


def questions(*, install: source.Installation | None = None) -> list[Question]:
    """The installed template's questions, in the order Copier asks them. Prepares the
    template source too, so plain `copier` works after any tornado-scaffold command."""
    install = install or source.installed()
    source.ensure(install)
    return list(install.questions().values())
