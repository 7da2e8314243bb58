"""Team tooling in generated projects: git, Docker, CI workflows, editor and lint config."""

import subprocess

import pytest
import yaml

from conftest import render, run_cli


@pytest.fixture(scope="module")
def project(tmp_path_factory, home):
    return render(tmp_path_factory.mktemp("tooling") / "tooled", home, port=8300)


def _readme_commands(project):
    readme = (project / "README.md").read_text()
    return {line.strip() for line in readme.splitlines()}, readme


def test_git_repository_with_a_clean_first_commit(project):
    log = subprocess.run(["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True)
    assert log.stdout.strip().startswith("Initial commit: tornado-scaffold")
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True
    )
    assert status.stdout == ""


def test_git_init_can_be_declined(tmp_path, home):
    project = render(tmp_path / "plain", home, git_init=False)
    assert not (project / ".git").exists()


def test_no_nested_repository_inside_an_existing_one(tmp_path, home):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    done = run_cli("new", tmp_path / "inner", "--defaults", home=home)
    assert done.returncode == 0, done.stderr
    assert "inside a git repository already" in done.stdout
    assert not (tmp_path / "inner" / ".git").exists()


def test_dockerfile(project):
    dockerfile = (project / "Dockerfile").read_text()
    lines = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("FROM python:") and "slim" in lines[0]
    healthcheck = dockerfile[dockerfile.index("HEALTHCHECK") :].split("\n\n")[0]
    assert "http://127.0.0.1:8300/healthz" in healthcheck
    # Dependencies are installed before the code is copied, so code edits keep the layer.
    assert (
        dockerfile.index("COPY requirements.txt")
        < dockerfile.index("pip install")
        < dockerfile.index("COPY --chown")
    )
    user = next(line for line in lines if line.startswith("USER "))
    assert user != "USER root" and dockerfile.index("USER ") < dockerfile.index("CMD")
    assert (
        '"--address=0.0.0.0"' in dockerfile and "COOKIE_SECRET" not in dockerfile.split("CMD")[-1]
    )
    ignored = (project / ".dockerignore").read_text().split()
    assert {".git", ".venv", "__pycache__", ".env"} <= set(ignored)


def test_github_workflow_runs_the_readme_commands(project):
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    commands = [step["run"] for step in steps if "run" in step]
    assert commands == [
        "pip install -r requirements-dev.txt",
        "ruff check .",
        "ruff format --check .",
        "python -W error -m pytest",
    ]
    _, readme = _readme_commands(project)
    for command in commands:
        assert command in readme, command


def test_gitlab_workflow_instead(tmp_path, home):
    project = render(tmp_path / "gl", home, ci="gitlab", docker=False, git_init=False)
    assert not (project / ".github").exists() and not (project / "Dockerfile").exists()
    pipeline = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    script = pipeline["test"]["script"]
    readme = (project / "README.md").read_text()
    assert "python -W error -m pytest" in script and all(cmd in readme for cmd in script)


def test_no_ci(tmp_path, home):
    project = render(tmp_path / "none", home, ci="none", git_init=False)
    assert not (project / ".github").exists() and not (project / ".gitlab-ci.yml").exists()


def test_editor_and_lint_config(project):
    assert "end_of_line = lf" in (project / ".editorconfig").read_text()
    assert "eol=lf" in (project / ".gitattributes").read_text()
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    ids = {hook["id"] for repo in hooks["repos"] for hook in repo["hooks"]}
    assert {"ruff", "ruff-format"} <= ids
