"""The release artefacts: .ci/run builds the sdist and the wheel, and both hold the whole
template and its history, so that publishing is one step."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile

from tornado_scaffold import __version__, history

from conftest import PACKAGE, REPO

BUILD = ".venv/bin/python -m build --no-isolation --outdir dist ."


def test_ci_builds_the_sdist_and_the_wheel_from_it(tmp_path):
    assert BUILD in (REPO / ".ci" / "run").read_text().splitlines()
    dist = tmp_path / "dist"

    built = subprocess.run(
        [sys.executable, *BUILD.split()[1:-2], str(dist), str(REPO)],
        capture_output=True,
        text=True,
    )

    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (sdist,) = dist.glob("tornado_scaffold-*.tar.gz")
    (wheel,) = dist.glob("tornado_scaffold-*-py3-none-any.whl")
    assert sdist.name == f"tornado_scaffold-{__version__}.tar.gz"
    template = [p.relative_to(REPO).as_posix() for p in history.template_files(REPO)]
    with tarfile.open(sdist) as archive:
        top = f"tornado_scaffold-{__version__}/"
        in_sdist = {name.removeprefix(top) for name in archive.getnames()}
    for name in [*template, "generator/tornado_scaffold/history.bundle", "README.md"]:
        assert name in in_sdist, name
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
        scripts = archive.read(f"tornado_scaffold-{__version__}.dist-info/entry_points.txt")
        assert "tornado-scaffold = tornado_scaffold.entry:main" in scripts.decode()
        assert (
            archive.read("tornado_scaffold/history.bundle")
            == (PACKAGE / "history.bundle").read_bytes()
        )
    for name in template:
        assert f"tornado_scaffold/_template/{name}" in in_wheel, name

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, wheel],
        check=True,
        capture_output=True,
    )
    ran = subprocess.run(
        [sys.executable, "-c", "import tornado_scaffold.entry as e; print(e.__file__); e.main()"]
        + ["--version"],
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    where, version = ran.stdout.splitlines()
    assert where.startswith(str(site)), where  # the wheel's copy, not this checkout
    assert version == f"tornado-scaffold {__version__}", ran.stderr
