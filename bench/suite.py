"""Wall time of the generator's test suite (`python -m pytest -n auto`) and what dominates it.

Runs the suite of a checkout (default: this one; `--repo /work/main` for another) with that
checkout's generator on PYTHONPATH; lists the slowest 15 phases and the totals per test file.
"""

from __future__ import annotations

import collections
import contextlib
import re
import time
from pathlib import Path

import common as c

DURATION = re.compile(r"^([\d.]+)s (setup|call|teardown)\s+(\S+)")


def run_suite(repo: Path, quick: bool) -> tuple[float, str, int]:
    cmd = [
        c.PY,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--durations=0",
        "--durations-min=0",
        "-q",
    ]
    if quick:  # a smoke run: one fast file, no workers
        cmd += ["tests/test_answers_unit.py"]
    else:
        cmd += ["-n", "auto"]
        if (repo / "tests" / "test_bench_smoke.py").exists():
            cmd += ["--ignore=tests/test_bench_smoke.py"]  # the bench's own smoke test
    env = {"PYTHONPATH": str(repo / "generator")}
    start = time.perf_counter()
    done = c.run(cmd, cwd=repo, env=env, timeout=1800, check=False)
    return time.perf_counter() - start, done.stdout, done.returncode


def main() -> None:
    args = c.parse_args(
        __doc__,
        [
            ("--repo", {"type": Path, "default": c.REPO}),
            ("--ref", {"help": "clone this commit of --repo first (a clean tree, e.g. main)"}),
        ],
    )
    runs = args.runs or (1 if args.quick else 3)
    with contextlib.ExitStack() as stack:
        repo = args.repo
        if args.ref:  # never run in a work tree someone may be editing or merging in
            repo = stack.enter_context(c.scratch("bench-suite-")) / "repo"
            c.run(["git", "clone", "--quiet", "--no-checkout", str(args.repo), str(repo)])
            c.run(["git", "checkout", "--quiet", args.ref], cwd=repo)
        head = c.run(["git", "log", "-1", "--format=%h %s"], cwd=repo, check=False).stdout
        print(f"machine: {c.machine()}; repo: {args.repo} {args.ref or ''} at {head.strip()}")
        report(repo, runs, args.quick)


def report(repo: Path, runs: int, quick: bool) -> None:
    walls, outputs, codes = [], [], []
    for _ in range(runs):
        wall, out, code = run_suite(repo, quick)
        walls.append(wall)
        outputs.append(out)
        codes.append(code)
    summary = [line for line in outputs[-1].splitlines() if re.search(r"\d+ (passed|failed)", line)]
    c.table(
        f"test suite wall time ({runs} run(s); {'quick: one file' if quick else '-n auto'})",
        ["median s", "min s", "max s", "exit codes", "pytest summary (last run)"],
        [
            [
                c.fmt(c.median(walls), 1),
                c.fmt(min(walls), 1),
                c.fmt(max(walls), 1),
                ",".join(map(str, codes)),
                summary[-1].strip("= ") if summary else "?",
            ]
        ],
    )
    # Every phase (--durations=0): the top 15 as pytest shows them, then totals per file, which
    # say what dominates better than single tests do.
    phases = [m.groups() for line in outputs[-1].splitlines() if (m := DURATION.match(line))]
    c.table(
        "slowest 15 phases (last run)",
        ["seconds", "phase", "test"],
        [[s, phase, test] for s, phase, test in phases[:15]],
    )
    per_file: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])
    for s, _, test in phases:
        per_file[test.split("::")[0]][0] += float(s)
        per_file[test.split("::")[0]][1] += 1
    busy = sum(total for total, _ in per_file.values())
    c.table(
        f"seconds per test file, all phases (sum {busy:.0f} s over the workers)",
        ["file", "seconds", "share", "phases"],
        [
            [f, c.fmt(t, 1), f"{100 * t / busy:.0f}%" if busy else "", n]
            for f, (t, n) in sorted(per_file.items(), key=lambda kv: -kv[1][0])
        ],
    )


if __name__ == "__main__":
    main()
