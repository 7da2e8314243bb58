"""TCP echo figures: round trips/s with 50 clients, generated echo module vs a minimal TCPServer.

Server pinned to core 0, the client (bench/loadgen.py, uvloop when installed) to core 1.
"""

from __future__ import annotations

import contextlib

import common as c

PEER = c.PEERS / "tcp_echo.py"
SERVER_ENV = {"COOKIE_SECRET": "bench-secret-bench-secret-bench-secret"}


def measure(port: int, seconds: float) -> dict:
    args = ["tcp", "--port", str(port), "--connections", "50", "--duration", str(seconds)]
    return c.loadgen(args, timeout=seconds + 30)


def main() -> None:
    args = c.parse_args(__doc__)
    runs = args.runs or (1 if args.quick else 3)
    seconds = 0.5 if args.quick else 10
    print(f"machine: {c.machine()}; client python: {c.CLIENT_PY}")
    with c.scratch("bench-tcp-") as work:
        home = work / "home"
        home.mkdir()
        project = c.generate(work / "app", home)
        has_echo = (project / "echo_server.py").is_file()
        pport = c.free_port()
        servers = {"peer": ([c.PY, str(PEER), str(pport)], pport, None)}
        if has_echo:
            hport, tport = c.free_port(), c.free_port()
            cmd = [c.PY, "app.py", f"--port={hport}", f"--tcp_port={tport}"]
            servers["generated"] = (cmd, tport, project)
        results: dict[str, list[dict]] = {name: [] for name in servers}
        with contextlib.ExitStack() as stack:
            for name, (cmd, port, cwd) in servers.items():
                log = work / f"{name}.log"
                stack.enter_context(c.server(cmd, port, cwd=cwd, env=SERVER_ENV, log=log))
            names = list(servers)
            for i in range(runs + (0 if args.quick else 1)):  # first full round warms up
                for name in names if i % 2 else names[::-1]:
                    result = measure(servers[name][1], 1 if not args.quick and not i else seconds)
                    if args.quick or i:
                        results[name].append(result)
        rows = []
        peer = c.median([r["rps"] for r in results["peer"]])
        for name in ("generated", "peer"):
            if name not in results:
                rows.append(
                    [name, "pending: no echo_server.py in the generated project yet", "", "", "n/a"]
                )
                continue
            rps = c.median([r["rps"] for r in results[name]])
            p99 = c.median([r["p99_ms"] for r in results[name]])
            r = c.ratio(rps, peer)
            ok = c.verdict(r >= 0.95) if name == "generated" else ""
            rows.append([name, c.fmt(rps), c.fmt(p99, 2), c.fmt(r, 2), ok])
        uv = results["peer"][0].get("uvloop")
        c.table(
            f"TCP echo round trips, 50 clients ({runs} x {seconds:g} s, client uvloop={uv})",
            ["server", "round trips/s", "p99 ms", "ratio to peer", "target >= 0.95x"],
            rows,
        )


if __name__ == "__main__":
    main()
