"""HTTP figures of a generated project: start-up, `/healthz`, `/` and `--processes 2`.

Peer: bench/peers/hello.py, a minimal hand-written Tornado app. Server pinned to core 0, the
load client (wrk, else bench/loadgen.py) to core 1: the two share this machine's 2 cores.
Named web.py, not http.py: a script's folder comes first on sys.path and would shadow `http`.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
import urllib.request
from pathlib import Path

import common as c

HELLO = c.PEERS / "hello.py"


def gen_cmd(project: Path, port: int, options: str, extra: tuple[str, ...] = ()) -> list[str]:
    cmd = [c.PY, "app.py", f"--port={port}", "--address=127.0.0.1", *extra]
    if c.has_option(
        options, "tcp_port"
    ):  # the TCP echo module listens too: keep it off fixed ports
        cmd.append(f"--tcp_port={c.free_port()}")
    return cmd


SERVER_ENV = {"COOKIE_SECRET": "bench-secret-bench-secret-bench-secret"}


def startup(project: Path, options: str, runs: int) -> None:
    """Wall time from spawning `python app.py` until its port accepts a connection."""
    times: dict[str, list[float]] = {"generated": [], "peer": []}
    for i in range(runs + 1):  # round 0 warms the page cache and .pyc files
        for name in ("generated", "peer") if i % 2 else ("peer", "generated"):
            port = c.free_port()
            if name == "generated":
                cmd, cwd = gen_cmd(project, port, options), project
            else:
                cmd, cwd = [c.PY, str(HELLO), str(port)], None
            start = time.perf_counter()
            proc = c.spawn([*c.pin(0), *cmd], cwd=cwd, env=SERVER_ENV)
            try:
                ready = c.wait_port("127.0.0.1", port, proc, 20)
            finally:
                c.stop(proc)
            if i:
                times[name].append(ready - start)
    gen, peer = c.median(times["generated"]), c.median(times["peer"])
    r = c.ratio(gen, peer)
    c.table(
        f"start-up until the port accepts ({runs} runs each)",
        ["generated ms", "peer ms", "ratio", "target <= 1.3x"],
        [[c.fmt(gen * 1e3), c.fmt(peer * 1e3), c.fmt(r, 2), c.verdict(r <= 1.3)]],
    )


def wrk_unit(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]


def load(
    url: str, seconds: float, client: str, headers: tuple[str, ...] = (), core: int | None = 1
) -> dict:
    """One load run, 50 connections, client pinned to ``core`` (None: not pinned)."""
    if client == "wrk":
        seconds = max(1, round(seconds))  # wrk takes whole seconds
        cmd = [*c.pin(core), "wrk", "-t1", "-c50", f"-d{seconds}s", "--latency"]
        for header in headers:
            cmd += ["-H", header]
        out = c.run([*cmd, url], timeout=seconds + 30).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
        p99 = wrk_unit(re.search(r"\s99%\s+(\S+)", out)[1])
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return {"rps": rps, "p99_ms": p99, "errors": int(errors[1]) if errors else 0}
    host_port, path = url.removeprefix("http://").split("/", 1)
    args = ["http", "--port", host_port.split(":")[1], "--path", "/" + path]
    args += ["--duration", str(seconds), "--connections", "50"]
    for header in headers:
        args += ["--header", header]
    return c.loadgen(args, core=core, timeout=seconds + 30)


def compare(
    title: str,
    target: float,
    gen_url: str,
    peer_url: str,
    runs: int,
    seconds: float,
    client: str,
    gen_headers: tuple[str, ...] = (),
    warm: bool = True,
) -> float:
    """Alternate runs against the two live servers; medians of req/s and p99."""
    results: dict[str, list[dict]] = {"generated": [], "peer": []}
    if warm:  # first requests compile templates and fill caches
        load(gen_url, 1, client, gen_headers)
        load(peer_url, 1, client)
    for i in range(runs):
        for name in ("generated", "peer") if i % 2 else ("peer", "generated"):
            if name == "generated":
                results[name].append(load(gen_url, seconds, client, gen_headers))
            else:
                results[name].append(load(peer_url, seconds, client))
    gen = {k: c.median([r[k] for r in results["generated"]]) for k in ("rps", "p99_ms")}
    peer = {k: c.median([r[k] for r in results["peer"]]) for k in ("rps", "p99_ms")}
    errors = sum(r.get("errors", 0) for rs in results.values() for r in rs)
    r = c.ratio(gen["rps"], peer["rps"])
    c.table(
        f"{title} ({client}, 50 connections, {runs} x {seconds:g} s each)",
        [
            "generated req/s",
            "peer req/s",
            "ratio",
            "generated p99 ms",
            "peer p99 ms",
            f"target >= {target}x",
            "non-2xx",
            "each run req/s (generated / peer)",
        ],
        [
            [
                c.fmt(gen["rps"]),
                c.fmt(peer["rps"]),
                c.fmt(r, 2),
                c.fmt(gen["p99_ms"], 1),
                c.fmt(peer["p99_ms"], 1),
                c.verdict(r >= target) if target else "(context)",
                errors,
                " / ".join(", ".join(c.fmt(x["rps"]) for x in results[name]) for name in results),
            ]
        ],
    )
    return r


def xsrf_cookie(url: str) -> str | None:
    with urllib.request.urlopen(url, timeout=10) as response:
        for header in response.headers.get_all("Set-Cookie") or []:
            if header.startswith("_xsrf="):
                return header.split(";", 1)[0]
    return None


def processes(
    project: Path, options: str, runs: int, seconds: float, client: str, quick: bool
) -> None:
    if not c.has_option(options, "processes"):
        c.table(
            "`--processes 2` vs 1 on /healthz",
            ["result"],
            [["not yet measurable: the generated app has no --processes option"]],
        )
        return
    # Both servers stay up and runs alternate, so load from elsewhere hits both alike. Nothing
    # is pinned: two workers need both cores, and the client shares them (wrk: 10-15% of one).
    ports = {1: c.free_port(), 2: c.free_port()}
    per_run: dict[int, list[float]] = {1: [], 2: []}
    with contextlib.ExitStack() as stack:
        for n, port in ports.items():
            cmd = gen_cmd(project, port, options, (f"--processes={n}",))
            stack.enter_context(c.server(cmd, port, cwd=project, env=SERVER_ENV, core=None))
        urls = {n: f"http://127.0.0.1:{port}/healthz" for n, port in ports.items()}
        if not quick:
            for url in urls.values():
                load(url, 1, client, core=None)
        for i in range(runs):
            for n in (1, 2) if i % 2 else (2, 1):
                per_run[n].append(load(urls[n], seconds, client, core=None)["rps"])
    rps = {n: c.median(values) for n, values in per_run.items()}
    r = c.ratio(rps[2], rps[1])
    c.table(
        f"`--processes 2` vs 1 on /healthz (same project, {client}, nothing pinned)",
        ["1 process req/s", "2 processes req/s", "ratio", "target >= 1.7x", "each run (1 / 2)"],
        [
            [
                c.fmt(rps[1]),
                c.fmt(rps[2]),
                c.fmt(r, 2),
                c.verdict(r >= 1.7),
                " / ".join(", ".join(c.fmt(x) for x in per_run[n]) for n in (1, 2)),
            ]
        ],
    )


def main() -> None:
    args = c.parse_args(
        __doc__,
        [
            ("--client", {"choices": ["auto", "wrk", "python"], "default": "auto"}),
            ("--only", {"choices": ["processes"], "help": "measure only this figure"}),
        ],
    )
    runs = args.runs or (1 if args.quick else 5)
    seconds = 0.5 if args.quick else 6  # wrk rounds up to 1 s
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    print(f"machine: {c.machine()}; load client: {client}")
    with c.scratch("bench-web-") as work:
        home = work / "home"
        home.mkdir()
        project = c.generate(work / "app", home)
        options = c.app_options(project)
        if args.only == "processes":  # re-measure just this figure
            processes(project, options, runs, seconds, client, args.quick)
            return
        startup(project, options, 2 if args.quick else 15)
        gport, qport, pport = c.free_port(), c.free_port(), c.free_port()
        g, q, p = (f"http://127.0.0.1:{port}" for port in (gport, qport, pport))
        warm = not args.quick
        with contextlib.ExitStack() as stack:
            for port, cmd, cwd, name in [
                (gport, gen_cmd(project, gport, options), project, "gen"),
                (pport, [c.PY, str(HELLO), str(pport)], None, "peer"),
            ] + (
                []
                if args.quick
                else [
                    # Same project without the per-request access log line (see README).
                    (
                        qport,
                        gen_cmd(project, qport, options, ("--logging=warning",)),
                        project,
                        "quiet",
                    ),
                ]
            ):
                log = work / f"{name}.log"
                stack.enter_context(c.server(cmd, port, cwd=cwd, env=SERVER_ENV, log=log))
            compare(
                "/healthz vs hello world",
                0.95,
                f"{g}/healthz",
                f"{p}/",
                runs,
                seconds,
                client,
                warm=warm,
            )
            compare(
                "/ (template, static_url, xsrf; client never returns cookies) vs hello world",
                0.75,
                f"{g}/",
                f"{p}/",
                runs,
                seconds,
                client,
                warm=warm,
            )
            if not args.quick:
                compare(
                    "context: /healthz with --logging=warning (no access log) vs hello world",
                    0,
                    f"{q}/healthz",
                    f"{p}/",
                    runs,
                    seconds,
                    client,
                )
                compare(
                    "context: / with --logging=warning (no access log) vs hello world",
                    0,
                    f"{q}/",
                    f"{p}/",
                    runs,
                    seconds,
                    client,
                )
                cookie = xsrf_cookie(f"{g}/")
                if cookie:
                    compare(
                        "context: / with the _xsrf cookie sent back (browser-like)",
                        0,
                        f"{g}/",
                        f"{p}/",
                        runs,
                        seconds,
                        client,
                        (f"Cookie: {cookie}",),
                    )
                else:
                    c.note("/ sets no _xsrf cookie for a logged-out visitor: no token is minted")
        processes(project, options, runs, seconds, client, args.quick)


if __name__ == "__main__":
    main()
