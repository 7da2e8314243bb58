"""Garbage-collector probe, loaded into a server through PYTHONPATH when BENCH_GC_LOG is set.

Logs every full (generation 2) pass with its duration; SIGUSR1 times a forced gc.collect(),
SIGUSR2 times gc.freeze() followed by gc.collect(). Neither server's code is changed.
"""

import os

if os.environ.get("BENCH_GC_LOG"):
    import gc
    import signal
    import time

    _log = open(os.environ["BENCH_GC_LOG"], "a", buffering=1)  # noqa: SIM115 - process-long
    _start = [0.0]

    def _on_gc(phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            _start[0] = time.perf_counter()
        else:
            _log.write(f"full {time.monotonic():.6f} {time.perf_counter() - _start[0]:.6f}\n")

    def _collect(signum: int, frame: object) -> None:
        if signum == signal.SIGUSR2:
            gc.freeze()
        start = time.perf_counter()
        gc.collect()
        name = "frozen-collect" if signum == signal.SIGUSR2 else "collect"
        _log.write(f"{name} {time.monotonic():.6f} {time.perf_counter() - start:.6f}\n")

    gc.callbacks.append(_on_gc)
    signal.signal(signal.SIGUSR1, _collect)
    signal.signal(signal.SIGUSR2, _collect)
