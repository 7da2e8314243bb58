"""The repository's promises about itself: CI runs the README's test command."""

import re

from conftest import REPO


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"```sh\n(python3 -m venv .*)\n```", readme)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (REPO / ".ci" / "run").read_text().splitlines()


def test_repository_is_a_copier_template():
    copier_yml = (REPO / "copier.yml").read_text()
    assert "_subdirectory: template" in copier_yml
    assert (REPO / "template" / "{{_copier_conf.answers_file}}.jinja").is_file()
