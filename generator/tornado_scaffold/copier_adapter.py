"""Everything tornado-scaffold asks of Copier, and everything Copier says back.

This is the one module that imports Copier (about half a second, so only when a
command renders). It owns the settings every run uses, the translation of Copier's
errors into one-line messages, and the answers Copier records. Copier's temporary
folders go in a folder of our own that is removed whatever happens, even when a
signal interrupts Copier before it could note where it cloned the template.
"""

from __future__ import annotations

import contextlib
import gc
import re
import shutil
import signal
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tornado_scaffold import interrupts
from tornado_scaffold.answers import shown
from tornado_scaffold.errors import Interrupted, ScaffoldError
from tornado_scaffold.generated import ANSWERS_FILE
from tornado_scaffold.questions import Question

# Every run: no prompt for overwrites (the destination is a fresh scratch folder or a
# clean repository), no output of Copier's own, and no template code run on the machine.
_SETTINGS = {"quiet": True, "overwrite": True, "unsafe": False}

# What this module replaces inside Copier, where Copier has no public way to ask for it.
GIT_INDEX_STEP = "_sync_git_index_executable_bit"  # a method of copier._main.Worker
PROMPT = "unsafe_prompt"  # the function copier._main asks each question with

# Copier raises these as plain ValueErrors (a wrong type of answer as its public
# InvalidTypeError) and names the question only in its English message: the wording is
# pinned by tests/test_copier_adapter_unit.py, which fails naming the error that changed.
_VALIDATION = re.compile(r"Validation error for question '(?P<key>[^']+)': (?P<msg>.*)", re.S)
_REQUIRED = re.compile(r'Question "(?P<key>[^"]+)" is required')
_CHOICE = re.compile(r"Invalid choice for '(?P<key>[^']+)'")
_TYPE = re.compile(r'to question "(?P<key>[^"]+)" of type "(?P<type>[^"]+)"')
_REVISION = re.compile(r"Unknown revision: '(?P<ref>[^']*)'")
_T = TypeVar("_T")


def copy(
    src: str,
    dest: Path,
    *,
    version: str,
    data: dict[str, Any],
    ask: bool,
    user_defaults: dict[str, Any],
    questions: dict[str, Question],
) -> dict[str, Any]:
    """Render template ``version`` from ``src`` into ``dest``; return the answers Copier
    recorded (asked, given or defaulted) in ``.copier-answers.yml``, without its own keys."""
    with _prompts_fit_the_terminal() if ask else contextlib.nullcontext():
        _run(
            lambda: run_copy_new(
                src_path=src,
                dst_path=dest,
                data=data,
                user_defaults=user_defaults,
                defaults=not ask,
                vcs_ref=version,
                **_SETTINGS,
            ),
            data,
            questions,
        )
    # Copier's record of the answers is the file it wrote: what update reads back later.
    recorded = yaml.safe_load((dest / ANSWERS_FILE).read_text(encoding="utf-8")) or {}
    return {key: value for key, value in recorded.items() if not key.startswith("_")}


def run_copy_new(**options: Any) -> None:
    """``copier.run_copy`` into a new project folder, less a step that is a no-op there.

    For each file it writes, Copier runs `git config` to learn whether the destination's
    git index needs an executable bit fixed (only when `core.fileMode` is false and the
    file is tracked). A new project's files are not tracked yet, so the answer never
    matters, and the 50-odd git processes were about half the time of `new` here
    (bench/cli.py). The step is a method of Copier's internal Worker class, replaced for
    this call only: if it changes, rendering still works, only this saving goes
    (tests/test_copier_adapter_unit.py says so).
    """
    import copier

    def skipped(original: Callable[..., None]) -> Callable[..., None]:
        def nothing_is_tracked(self: Any, *args: Any, **kwargs: Any) -> None:
            pass

        return nothing_is_tracked

    with _replaced(getattr(_copier_main(), "Worker", None), GIT_INDEX_STEP, skipped):
        copier.run_copy(**options)


def _copier_main() -> Any:
    """Copier's internal module ``copier._main``; None when this Copier has none."""
    try:
        import copier._main as copier_main
    except ImportError:
        return None
    return copier_main


@contextlib.contextmanager
def _replaced(
    owner: Any, name: str, replacement: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Iterator[None]:
    """``owner.name`` is ``replacement(original)`` inside the block; nothing changes when
    ``owner`` has no such attribute (another Copier version)."""
    original = vars(owner).get(name) if owner is not None else None
    if original is None:
        yield
        return
    setattr(owner, name, replacement(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


def _prompts_fit_the_terminal() -> contextlib.AbstractContextManager[None]:
    """Copier's prompts, wrapped to the terminal's width.

    prompt_toolkit cuts a prompt line at the right edge instead of wrapping it, so a long
    help text or choice (the sign-in question, the OpenID Connect choice) lost its end at
    80 and even 120 columns. Copier asks each question through ``unsafe_prompt`` in its
    internal ``copier._main``: if that changes, prompts still work, only the wrapping goes
    (tests/test_copier_adapter_unit.py says so).
    """

    def fitted(original: Callable[..., Any]) -> Callable[..., Any]:
        def prompt(questions: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
            width = max(shutil.get_terminal_size().columns, 40)
            for question in questions:
                message = question.get("message")
                if isinstance(message, str):
                    # After the question mark ("🎤 ": 3 columns); Copier ends it with "\n  ".
                    question["message"] = _wrap(message.rstrip(), width - 4, "   ") + "\n  "
                for choice in question.get("choices") or ():
                    title = getattr(choice, "title", None)
                    if isinstance(title, str):  # after the pointer and the box (" » ○ ")
                        choice.title = _wrap(title, width - 6, " " * 5)
            return original(questions, *args, **kwargs)

        return prompt

    return _replaced(_copier_main(), PROMPT, fitted)


def _wrap(text: str, width: int, indent: str) -> str:
    return "\n".join(
        textwrap.fill(line, width, subsequent_indent=indent, break_on_hyphens=False)
        for line in text.splitlines()
    )


def update(
    project: Path, *, version: str, data: dict[str, Any], questions: dict[str, Question]
) -> None:
    """Three-way update of ``project`` to template ``version``; new questions take their
    defaults (or ``data``). Conflicts are left inline: Copier reports success anyway."""
    import copier

    _run(
        lambda: copier.run_update(
            dst_path=project,
            data=data,
            vcs_ref=version,
            defaults=True,
            skip_answered=True,
            conflict="inline",
            **_SETTINGS,
        ),
        data,
        questions,
    )


def _run(call: Callable[[], _T], given: dict[str, Any], questions: dict[str, Question]) -> _T:
    """``call()`` with Copier's temporary folders in a private folder removed at the end;
    Copier's errors become ScaffoldErrors and an interrupt at a prompt an Interrupted.
    OSError is left to the caller, which knows what was being written."""
    failure: ScaffoldError | Interrupted
    with interrupts.scratch_folder("tornado-scaffold-") as folder:
        previous, tempfile.tempdir = tempfile.tempdir, str(folder)
        try:
            with warnings.catch_warnings():
                # When a file fails to render Copier leaves a directory iterator open: its
                # ResourceWarning would come later, from the garbage collector, as noise.
                warnings.simplefilter("ignore", ResourceWarning)
                try:
                    result = call()
                    interrupts.checkpoint()  # a signal dropped in a __del__ of Copier's
                    return result
                except KeyboardInterrupt as interrupt:
                    # Copier wraps a Ctrl-C at a prompt (with the answers so far) in its error.
                    cause = interrupt if isinstance(interrupt, Interrupted) else interrupt.__cause__
                    failure = Interrupted(getattr(cause, "signum", signal.SIGINT))
                except OSError:
                    raise
                except Exception as error:  # Copier, Jinja, plumbum or git: one line each
                    failure = ScaffoldError(message(error, given, questions))
                gc.collect()  # Copier's frames and that iterator go now, under the filter
        finally:
            tempfile.tempdir = previous
    raise failure


def message(error: Exception, given: dict[str, Any], questions: dict[str, Question]) -> str:
    """One actionable line for an error Copier raised while asking or rendering."""
    from copier.errors import InteractiveSessionError, InvalidTypeError

    text = str(error).strip()
    if isinstance(error, InteractiveSessionError):
        return (
            "answers are missing and stdin is not a terminal: "
            "pass --defaults, --answers-file FILE or --data KEY=VALUE"
        )
    if match := _VALIDATION.match(text):
        return _invalid(match["key"], " ".join(match["msg"].split()), given, questions)
    if match := _REQUIRED.match(text):
        return f"missing required answer {match['key']}: pass --data {match['key']}=VALUE"
    if match := _CHOICE.match(text) or (isinstance(error, InvalidTypeError) and _TYPE.search(text)):
        expected = ", ".join(questions[match["key"]].choices) if match["key"] in questions else ""
        return _invalid(match["key"], f"expected one of: {expected}", given, questions)
    if match := _REVISION.search(text):
        return (
            f"template version {match['ref']} is missing from the template history: "
            "update with the tornado-scaffold release that made the project"
        )
    stderr = getattr(error, "stderr", None)  # a git command run by Copier
    if isinstance(stderr, str) and stderr.strip():
        return f"git failed inside Copier: {stderr.strip().splitlines()[-1]}"
    first = text.splitlines()[0] if text else type(error).__name__
    if getattr(error, "lineno", None):  # Jinja syntax errors know where they are
        name = Path(error.filename or error.name or "?").name  # type: ignore[attr-defined]
        first = f"{name} line {error.lineno}: {first}"  # type: ignore[attr-defined]
    return f"the template could not be rendered: {first}"


def _invalid(key: str, problem: str, given: dict[str, Any], questions: dict[str, Question]) -> str:
    question = questions.get(key)
    if key in given:
        got = f" (got {shown(given[key])})"
    elif question is not None and question.default_is_template:
        sources = ", ".join(question.derived_from(list(questions))) or "the other answers"
        got = f" (derived from {sources})"
    else:
        got = ""
    return f"invalid {key}{got}: {problem}; set it with --data {key}=VALUE"
