"""What every generated project must pass, whatever its options: shared by the test modules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
QUESTION_KEYS = [
    k for k in yaml.safe_load((REPO / "copier.yml").read_text()) if not k.startswith("_")
]
# Copier syntax that must never survive rendering. Tornado templates legitimately use
# {{ }} and {% %}, so look for Copier's own names and Jinja-only keywords instead.
_KEYS = "|".join(QUESTION_KEYS) + r"|_copier\w*"
LEFTOVER_BLOCK = re.compile(
    r"\{%-?\s*((if|elif|for)\s+(not\s+)?(" + _KEYS + r")\b|end(if|for|raw)\b|raw\b)"
)
LEFTOVER_VALUE = re.compile(r"\{\{-?\s*(" + _KEYS + r")\b")


def assert_no_copier_leftovers(project: Path) -> None:
    for path in project.rglob("*"):
        rel = path.relative_to(project).as_posix()
        if rel == ".git" or rel.startswith(".git/"):
            continue
        assert ".jinja" not in path.name and "{" not in rel, f"unrendered name: {rel}"
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            match = LEFTOVER_BLOCK.search(text)
            if not rel.startswith("templates/"):  # Tornado templates may print project_name
                match = match or LEFTOVER_VALUE.search(text)
            assert match is None, f"unrendered Copier syntax in {rel}: {match.group(0)!r}"


def assert_tornado_templates_compile(project: Path) -> None:
    import tornado.template

    loader = tornado.template.Loader(str(project / "templates"))
    for path in (project / "templates").glob("*.html"):
        loader.load(path.name)  # raises on a syntax error


def run(argv: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def assert_lint_clean(project: Path) -> None:
    for argv in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        done = run([sys.executable, "-m", "ruff", *argv], project)
        assert done.returncode == 0, f"ruff {argv[0]}:\n{done.stdout}{done.stderr}"


def assert_own_tests_pass(project: Path) -> str:
    done = run(
        [sys.executable, "-W", "error", "-m", "pytest", "-q", "-p", "no:cacheprovider"], project
    )
    assert done.returncode == 0, (
        f"generated tests failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
    )
    assert re.search(r"\d+ passed", done.stdout) and " warning" not in done.stdout, done.stdout
    return done.stdout
