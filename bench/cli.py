"""CLI figures: `--help`, `new` with every module on, and `update` across two template versions.

Each figure is measured side by side with its peer in the same run (runs interleaved, so drift
hits both alike); medians and ratios are printed as Markdown tables.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import common as c

PACKAGE = c.REPO / "generator" / "tornado_scaffold"
VERSION = re.search(r'__version__ = "([^"]+)"', (PACKAGE / "__init__.py").read_text())[1]
OLD_VERSION = "0.0.1"


def scaffold_cmd() -> list[str]:
    script = c.tool("tornado-scaffold")  # the console script, as users start it
    return [script] if script else [c.PY, "-m", "tornado_scaffold"]


def interleaved(
    commands: dict[str, tuple[list[str], dict]], runs: int, warm: bool
) -> dict[str, list[float]]:
    """Time each command ``runs`` times, rotating the order every round; one warm-up each."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for name in names if warm else ():
        cmd, kwargs = commands[name]
        c.timed(cmd, **kwargs)
    for i in range(runs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            cmd, kwargs = commands[name]
            times[name].append(c.timed(cmd, **kwargs))
    return times


def bench_help(runs: int, home: Path, warm: bool) -> None:
    env = c.cli_env(home)
    commands = {"tornado-scaffold --help": (scaffold_cmd() + ["--help"], {"env": env})}
    missing = []
    for peer in ("copier", "cookiecutter"):
        path = c.tool(peer)
        if path:
            commands[f"{peer} --help"] = ([path, "--help"], {"env": {"HOME": str(home)}})
        else:
            missing.append(peer)
    times = interleaved(commands, runs, warm)
    ours = c.median(times["tornado-scaffold --help"])
    peers = [c.median(t) for name, t in times.items() if not name.startswith("tornado")]
    ok = ours <= 0.15 and all(ours < p for p in peers) and not missing
    rows = [
        [name, c.fmt(c.median(t) * 1e3), c.fmt(min(t) * 1e3), c.fmt(ratio_of(ours, t), 2)]
        for name, t in times.items()
    ]
    rows += [[f"{peer} --help", "not installed", "", ""] for peer in missing]
    c.table(
        f"--help wall time ({runs} runs each; target: median <= 150 ms and faster than both peers:"
        f" {c.verdict(ok)})",
        ["command", "median ms", "min ms", "tornado-scaffold / this"],
        rows,
    )
    if missing:
        c.note(f"peer(s) missing: {', '.join(missing)}: pip install -r bench/requirements.txt")


def ratio_of(ours: float, times: list[float]) -> float:
    return c.ratio(ours, c.median(times))


def bench_new(runs: int, work: Path, home: Path, warm: bool) -> None:
    env = c.cli_env(home)
    c.generate(work / "warm", home)  # builds the template cache once, as a first run would
    source = str(home / ".cache" / "tornado-scaffold" / "template")
    copier = c.tool("copier") or "copier"
    rows = []
    for git_init in (True, False) if warm else (True,):
        answers = c.write_answers(
            work / f"answers-{git_init}.yml", {**c.ALL_ON, "git_init": git_init}
        )
        ours_cmd = [*scaffold_cmd(), "new", "--answers-file", str(answers)]
        peer_cmd = [copier, "copy", "--quiet", "--defaults", "--data-file", str(answers)]
        peer_cmd += ["--vcs-ref", VERSION, source]
        times: dict[str, list[float]] = {"ours": [], "peer": []}
        for i in range(0 if warm else 1, runs + 1):  # round 0 is a warm-up
            pair = [("ours", ours_cmd), ("peer", peer_cmd)]
            for name, cmd in pair if i % 2 else pair[::-1]:
                dest = work / f"new-{name}-{i}"
                start = time.perf_counter()
                c.run([*cmd, str(dest)], env=env)
                if i:
                    times[name].append(time.perf_counter() - start)
                shutil.rmtree(dest)
        ours, peer = c.median(times["ours"]), c.median(times["peer"])
        r = c.ratio(ours, peer)
        rows.append(
            [
                f"git_init={str(git_init).lower()}",
                c.fmt(ours * 1e3),
                c.fmt(peer * 1e3),
                c.fmt(r, 2),
                c.verdict(r <= 1.0) if git_init else "(isolates git init)",
            ]
        )
    c.table(
        f"`new`, every module on, vs `copier copy` of the same template and answers ({runs} runs)",
        [
            "variant",
            "tornado-scaffold new ms",
            "copier copy ms",
            "ratio",
            "target <= 1.0x",
        ],
        rows,
    )


def fake_release(site: Path, version: str, bundle: Path | None, tweak: bool) -> Path:
    """A copy of the package as a wheel would install it: `_template/` inside, own version."""
    pkg = site / "tornado_scaffold"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__", "history.bundle"))
    (pkg / "_template").mkdir()
    shutil.copy2(c.REPO / "copier.yml", pkg / "_template" / "copier.yml")
    shutil.copytree(c.REPO / "template", pkg / "_template" / "template")
    init = pkg / "__init__.py"
    init.write_text(
        re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', init.read_text())
    )
    if tweak:  # the old release differs, so update has a real change to carry over
        css = pkg / "_template" / "template" / "static" / "css" / "style.css"
        css.write_text(css.read_text() + "\n/* styles of release 0.0.1 */\n")
    if bundle is not None:
        shutil.copy2(bundle, pkg / "history.bundle")
    return pkg


def bench_update(runs: int, work: Path, home: Path, warm: bool) -> None:
    old_site, new_site = work / "site-old", work / "site-new"
    old_pkg = fake_release(old_site, OLD_VERSION, None, tweak=True)
    env_old = {**c.cli_env(home), "PYTHONPATH": str(old_site)}
    c.run([c.PY, "-m", "tornado_scaffold.release", "record"], env=env_old)
    fake_release(new_site, VERSION, old_pkg / "history.bundle", tweak=False)
    env_new = {**c.cli_env(home), "PYTHONPATH": str(new_site)}

    project = work / "made-by-old"
    answers = c.write_answers(work / "answers-update.yml", c.ALL_ON)
    c.run(
        [c.PY, "-m", "tornado_scaffold", "new", str(project), "--answers-file", str(answers)],
        env=env_old,
    )
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nA line the user added.\n")
    c.run(["git", "commit", "-qam", "user edit"], cwd=project, env=env_old)
    # The new release's cache (old tag from its bundle + its own version), built once.
    c.run([c.PY, "-c", "from tornado_scaffold import source; source.ensure()"], env=env_new)

    has_update = " update " in c.run([c.PY, "-m", "tornado_scaffold", "--help"], env=env_new).stdout
    copier = c.tool("copier") or "copier"
    peer_cmd = [copier, "update", "--quiet", "--defaults", "--vcs-ref", VERSION]
    ours_cmd = [c.PY, "-m", "tornado_scaffold", "update"]
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    names = ["peer", "ours"] if has_update else ["peer"]
    for i in range(0 if warm else 1, runs + 1):  # round 0 is a warm-up
        for name in names if i % 2 else names[::-1]:
            copy = work / f"upd-{name}-{i}"
            shutil.copytree(project, copy, symlinks=True)
            start = time.perf_counter()
            c.run(ours_cmd if name == "ours" else peer_cmd, cwd=copy, env=env_new)
            elapsed = time.perf_counter() - start
            if i:
                times[name].append(elapsed)
            answers_after = (copy / ".copier-answers.yml").read_text()
            if f"_commit: {VERSION}" not in answers_after:
                raise RuntimeError(f"{name} update did not reach {VERSION}:\n{answers_after}")
            shutil.rmtree(copy)
    peer = c.median(times["peer"])
    if has_update:
        ours = c.median(times["ours"])
        r = c.ratio(ours, peer)
        row = [c.fmt(ours * 1e3), c.fmt(peer * 1e3), c.fmt(r, 2), c.verdict(r <= 1.2)]
    else:
        row = ["pending (no `update` command yet)", c.fmt(peer * 1e3), "n/a", "n/a"]
    c.table(
        f"`update` {OLD_VERSION} -> {VERSION} vs `copier update` of identical copies ({runs} runs)",
        ["tornado-scaffold update ms", "copier update ms", "ratio", "target <= 1.2x"],
        [row],
    )


def main() -> None:
    args = c.parse_args(__doc__)
    runs = args.runs or (1 if args.quick else 15)
    print(f"machine: {c.machine()}")
    with c.scratch("bench-cli-") as work:
        home = work / "home"
        home.mkdir()
        warm = not args.quick
        bench_help(runs, home, warm)
        bench_new(runs if args.quick else max(5, runs // 2), work, home, warm)
        bench_update(runs if args.quick else max(5, runs // 2), work, home, warm)


if __name__ == "__main__":
    main()
