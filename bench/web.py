"""HTTP figures of a generated project: start-up, `/healthz`, `/` and `--processes 2`.

Each beside hand-written peers on the same Tornado, on the default asyncio loop and on
uvloop: bench/peers/hello.py (hello world), page.py (a bare rendered template page),
prefork.py (fork + SO_REUSEPORT). The generated app runs on its default loop (uvloop where
installed). Servers pinned to core 0, the load client (wrk, else bench/loadgen.py) to core 1:
the two share this machine's 2 cores. Named web.py, not http.py: a script's folder comes
first on sys.path and would shadow `http`.
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
PAGE = c.PEERS / "page.py"
PREFORK = c.PEERS / "prefork.py"


def gen_cmd(project: Path, port: int, options: str, extra: tuple[str, ...] = ()) -> list[str]:
    cmd = [c.PY, "app.py", f"--port={port}", "--address=127.0.0.1", *extra]
    if c.has_option(
        options, "tcp_port"
    ):  # the TCP echo module listens too: keep it off fixed ports
        cmd.append(f"--tcp_port={c.free_port()}")
    return cmd


SERVER_ENV = {"COOKIE_SECRET": "bench-secret-bench-secret-bench-secret"}


LOOPS = ("asyncio", "uvloop")


def startup(projects: dict[str, tuple[Path, str]], runs: int) -> None:
    """Wall time from spawning a server until its port accepts a connection.

    Each generated project (on its default loop) beside the hello world on each loop,
    interleaved: ``projects`` maps a row name to (project, its options).
    """
    names = [*projects, *(f"peer {loop}" for loop in LOOPS)]
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs + 1):  # round 0 warms the page cache and .pyc files
        for name in names if i % 2 else names[::-1]:
            port = c.free_port()
            if name in projects:
                project, options = projects[name]
                cmd, cwd = gen_cmd(project, port, options), project
            else:
                cmd, cwd = [c.PY, str(HELLO), str(port), name.split()[1]], None
            start = time.perf_counter()
            proc = c.spawn([*c.pin(0), *cmd], cwd=cwd, env=SERVER_ENV)
            try:
                ready = c.wait_port("127.0.0.1", port, proc, 20)
            finally:
                c.stop(proc)
            if i:
                times[name].append(ready - start)
    rows = []
    for name in projects:
        for loop in LOOPS:
            peer = times[f"peer {loop}"]
            r = c.median([g / p for g, p in zip(times[name], peer, strict=True)])
            rows.append(
                [
                    name,
                    loop,
                    c.fmt(c.median(times[name]) * 1e3),
                    c.fmt(c.median(peer) * 1e3),
                    c.fmt(r, 2),
                    c.verdict(r <= 1.1),
                ]
            )
    c.table(
        f"start-up until the port accepts ({runs} runs each; ratio: median of per-run ratios)",
        ["generated", "peer loop", "generated ms", "peer ms", "ratio", "target <= 1.1x"],
        rows,
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
        requests = int(re.search(r"(\d+) requests in", out)[1])
        return {
            "rps": rps,
            "p99_ms": p99,
            "errors": int(errors[1]) if errors else 0,
            "requests": requests,
        }
    host_port, path = url.removeprefix("http://").split("/", 1)
    args = ["http", "--port", host_port.split(":")[1], "--path", "/" + path]
    args += ["--duration", str(seconds), "--connections", "50"]
    for header in headers:
        args += ["--header", header]
    return c.loadgen(args, core=core, timeout=seconds + 30)


def compare(
    title: str,
    gen_url: str,
    peers: dict[str, tuple[str, float]],
    runs: int,
    seconds: float,
    client: str,
    core: int | None = 1,
    warm: bool = True,
) -> dict[str, float]:
    """Rounds of runs against live servers: the generated one and each peer, order alternating.

    ``peers`` maps a name to (url, target ratio; 0 for context only). The ratio is the median
    of per-round ratios (generated / peer), so drift on a noisy machine hits both sides alike.
    """
    names = ["generated", *peers]
    urls = {"generated": gen_url, **{name: url for name, (url, _) in peers.items()}}
    results: dict[str, list[dict]] = {name: [] for name in names}
    for url in urls.values() if warm else ():  # first requests compile templates, fill caches
        load(url, 1, client, core=core)
    for i in range(runs):
        for name in names if i % 2 else names[::-1]:
            results[name].append(load(urls[name], seconds, client, core=core))
    ratios = {}
    rows = []
    gen = results["generated"]
    for name, (_, target) in peers.items():
        # A round in which the peer answered nothing (a machine too busy) has no ratio.
        pairs = [c.ratio(g["rps"], p["rps"]) for g, p in zip(gen, results[name], strict=True)]
        r = ratios[name] = c.median([x for x in pairs if x == x])
        rows.append(
            [
                name,
                c.fmt(c.median([x["rps"] for x in gen])),
                c.fmt(c.median([x["rps"] for x in results[name]])),
                c.fmt(r, 2),
                f"{c.fmt(c.median([x['p99_ms'] for x in gen]), 1)} / "
                f"{c.fmt(c.median([x['p99_ms'] for x in results[name]]), 1)}",
                f"{c.verdict(None if r != r else r >= target)} (>= {target}x)"
                if target
                else "(context)",
                sum(x.get("errors", 0) for x in gen + results[name]),
                ", ".join(c.fmt(x, 2) for x in pairs),
            ]
        )
    c.table(
        f"{title} ({client}, 50 connections, {runs} rounds x {seconds:g} s)",
        [
            "peer",
            "generated req/s",
            "peer req/s",
            "ratio",
            "p99 ms (generated / peer)",
            "target",
            "non-2xx",
            "per-round ratios",
        ],
        rows,
    )
    return ratios


def xsrf_cookie(url: str) -> str | None:
    with urllib.request.urlopen(url, timeout=10) as response:
        for header in response.headers.get_all("Set-Cookie") or []:
            if header.startswith("_xsrf="):
                return header.split(";", 1)[0]
    return None


def processes(
    project: Path, options: str, runs: int, seconds: float, client: str, warm: bool = True
) -> None:
    """`--processes 2` beside a hand-written fork + SO_REUSEPORT hello world on each loop.

    Nothing pinned: two workers need both cores, and the client shares them.
    """
    ports = {name: c.free_port() for name in ("generated", *LOOPS)}
    with contextlib.ExitStack() as stack:
        extra: tuple[str, ...] = ()
        if c.has_option(options, "redis_url"):  # the chat runs on several processes via Redis
            redis_url = stack.enter_context(c.redis_server(stack.enter_context(c.scratch())))
            if not redis_url:
                c.table("`--processes 2` on /healthz", ["result"], [["needs redis-server"]])
                return
            extra = (f"--redis_url={redis_url}",)
        cmd = gen_cmd(project, ports["generated"], options, ("--processes=2", *extra))
        stack.enter_context(
            c.server(cmd, ports["generated"], cwd=project, env=SERVER_ENV, core=None)
        )
        for loop in LOOPS:
            cmd = [c.PY, str(PREFORK), str(ports[loop]), "2", loop]
            stack.enter_context(c.server(cmd, ports[loop], env=SERVER_ENV, core=None))
        url = {name: f"http://127.0.0.1:{port}/healthz" for name, port in ports.items()}
        compare(
            "`--processes 2` on /healthz vs fork + reuse_port, 2 processes",
            url["generated"],
            {f"{loop} peer": (url[loop], 1.0 if loop == "asyncio" else 0) for loop in LOOPS},
            runs,
            seconds,
            client,
            core=None,
            warm=warm,
        )


def main() -> None:
    args = c.parse_args(
        __doc__,
        [
            ("--client", {"choices": ["auto", "wrk", "python"], "default": "auto"}),
            ("--only", {"choices": ["startup", "http", "processes"], "help": "just this figure"}),
        ],
    )
    runs = args.runs or (1 if args.quick else 5)
    seconds = 0.2 if args.quick else 6  # wrk rounds up to 1 s
    client = args.client
    if client == "auto":  # --quick proves the script works: the short Python client will do
        client = "wrk" if shutil.which("wrk") and not args.quick else "python"
    print(f"machine: {c.machine()}; load client: {client}")
    with c.scratch("bench-web-") as work:
        home = work / "home"
        home.mkdir()
        project = c.generate(work / "app", home)
        options = c.app_options(project)
        if args.only in (None, "startup"):
            # Beside the project with every module on, one with none: what the modules cost.
            bare = c.generate(
                work / "bare",
                home,
                {**c.ALL_ON, "websocket": False, "tcp_echo": False, "auth_providers": []},
            )
            rows = {"every module": (project, options), "no module": (bare, c.app_options(bare))}
            startup(rows, 1 if args.quick else 15)
        if args.only in (None, "http"):
            http(project, options, work, runs, seconds, client, not args.quick)
        if args.only in (None, "processes"):
            processes(project, options, runs, seconds, client, not args.quick)


def http(
    project: Path,
    options: str,
    work: Path,
    runs: int,
    seconds: float,
    client: str,
    warm: bool = True,
) -> None:
    """/healthz beside the hello world, / beside the bare rendered page, on both peer loops."""
    servers = {"generated": lambda port: gen_cmd(project, port, options)}
    for loop in LOOPS:
        servers[f"hello {loop}"] = lambda port, loop=loop: [c.PY, str(HELLO), str(port), loop]
        servers[f"page {loop}"] = lambda port, loop=loop: [c.PY, str(PAGE), str(port), loop]
    url = {}
    with contextlib.ExitStack() as stack:
        for name, command in servers.items():
            port = c.free_port()
            cwd = project if name == "generated" else None
            log = work / f"{name.replace(' ', '-')}.log"
            stack.enter_context(c.server(command(port), port, cwd=cwd, env=SERVER_ENV, log=log))
            url[name] = f"http://127.0.0.1:{port}"
        compare(
            "/healthz vs a hello world",
            f"{url['generated']}/healthz",
            {
                "asyncio hello world": (f"{url['hello asyncio']}/", 1.05),
                "uvloop hello world": (f"{url['hello uvloop']}/", 0.95),
            },
            runs,
            seconds,
            client,
            warm=warm,
        )
        compare(
            "/ (layout, page, static_url; the client returns no cookie) vs a bare rendered page",
            f"{url['generated']}/",
            {
                "asyncio page": (f"{url['page asyncio']}/", 1.0),
                "uvloop page": (f"{url['page uvloop']}/", 0),
            },
            runs,
            seconds,
            client,
            warm=warm,
        )
        if not xsrf_cookie(f"{url['generated']}/"):
            c.note("/ sets no _xsrf cookie for a logged-out visitor: no token is minted")


if __name__ == "__main__":
    main()
