"""TCP echo figures: round trips/s with 50 clients, the generated echo module vs a TCPServer.

The peer (bench/peers/tcp_echo.py) runs on the default asyncio loop and on uvloop, the
generated app on its default loop (uvloop where installed). Servers pinned to core 0, the
client (bench/loadgen.py, uvloop when installed) to core 1. Ratios: medians of per-round
ratios, runs interleaved.
"""

from __future__ import annotations

import contextlib

import common as c

PEER = c.PEERS / "tcp_echo.py"
SERVER_ENV = {"COOKIE_SECRET": "bench-secret-bench-secret-bench-secret"}
LOOPS = ("asyncio", "uvloop")


def measure(port: int, seconds: float) -> dict:
    args = ["tcp", "--port", str(port), "--connections", "50", "--duration", str(seconds)]
    return c.loadgen(args, timeout=seconds + 30)


def main() -> None:
    args = c.parse_args(__doc__)
    runs = args.runs or (1 if args.quick else 5)
    seconds = 0.2 if args.quick else 6
    print(f"machine: {c.machine()}; client python: {c.CLIENT_PY}")
    with c.scratch("bench-tcp-") as work:
        home = work / "home"
        home.mkdir()
        project = c.generate(work / "app", home)
        hport, tport = c.free_port(), c.free_port()
        servers = {"generated": ([c.PY, "app.py", f"--port={hport}", f"--tcp_port={tport}"], tport)}
        for loop in LOOPS:
            port = c.free_port()
            servers[f"{loop} peer"] = ([c.PY, str(PEER), str(port), loop], port)
        results: dict[str, list[dict]] = {name: [] for name in servers}
        with contextlib.ExitStack() as stack:
            for name, (cmd, port) in servers.items():
                cwd = project if name == "generated" else None
                log = work / f"{name.replace(' ', '-')}.log"
                stack.enter_context(c.server(cmd, port, cwd=cwd, env=SERVER_ENV, log=log))
            names = list(servers)
            for name in names if not args.quick else ():  # warm-up
                measure(servers[name][1], 0.5)
            for i in range(runs):
                for name in names if i % 2 else names[::-1]:
                    results[name].append(measure(servers[name][1], seconds))
        gen = results["generated"]
        rows = []
        for loop, target in (("asyncio", 1.0), ("uvloop", 1.0)):
            peer = results[f"{loop} peer"]
            pairs = [g["rps"] / p["rps"] for g, p in zip(gen, peer, strict=True)]
            r = c.median(pairs)
            rows.append(
                [
                    f"{loop} peer",
                    c.fmt(c.median([x["rps"] for x in gen])),
                    c.fmt(c.median([x["rps"] for x in peer])),
                    c.fmt(r, 2),
                    f"{c.fmt(c.median([x['p99_ms'] for x in gen]), 2)} / "
                    f"{c.fmt(c.median([x['p99_ms'] for x in peer]), 2)}",
                    c.verdict(r >= target),
                    ", ".join(c.fmt(x, 2) for x in pairs),
                ]
            )
        uv = gen[0].get("uvloop")
        c.table(
            f"TCP echo round trips, 50 clients ({runs} rounds x {seconds:g} s, client uvloop={uv})",
            [
                "peer",
                "generated round trips/s",
                "peer round trips/s",
                "ratio",
                "p99 ms (generated / peer)",
                "target >= 1.0x",
                "per-round ratios",
            ],
            rows,
        )


if __name__ == "__main__":
    main()
