"""The bench scripts still work: each runs with --quick (tiny sizes) and prints a table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = [
    "cli.py",
    "web.py",
    "tcp.py",
    "websocket.py",
    "chat.py",
    "suite.py",
    "blog.py",
    "accounts.py",
]


def test_every_bench_script_prints_a_table_in_quick_mode():
    # In parallel: the whole smoke run stays within about 20 s on 2 cores.
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(BENCH / name), "--quick"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in SCRIPTS
    }
    failures = []
    for name, proc in procs.items():
        try:
            # A bound for a hang, not a speed target (bench/ prints those): on a machine the
            # rest of the suite loads (a load average of 8 on 2 cores), cli.py's one `new`
            # and one `update` beside Copier's took more than 120 s.
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        if proc.returncode != 0 or "| --- |" not in out:
            failures.append(f"{name} (exit {proc.returncode}):\n{out[-2000:]}\n{err[-3000:]}")
    assert not failures, "\n\n".join(failures)
