"""WebSocket figures: idle connections, memory per connection, broadcast time, echo under load.

Generated chat module (`/ws`) vs bench/peers/ws_echo.py (`/ws`: the same chat protocol in a
few lines). Server pinned to core 0; the clients are several bench/loadgen.py processes on
core 1, each bound to its own source address 127.0.0.x (IP_BIND_ADDRESS_NO_PORT), so no
process runs short of ephemeral ports or open files. The server keeps Tornado's default listen
backlog (128): clients keep fewer handshakes than that in flight.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import common as c

PEER = c.PEERS / "ws_echo.py"
PER_CLIENT = 5000  # connections per client process
PATH = "/ws?name=bench"  # the chat wants a name; the peer ignores it
SERVER_ENV = {
    "COOKIE_SECRET": "bench-secret-bench-secret-bench-secret",
    "PYTHONPATH": str(c.BENCH / "gcprobe"),
}


class Clients:
    """Client processes holding connections; commands go to all of them at once."""

    def __init__(self, port: int, total: int, path: str = PATH) -> None:
        self.procs: list[subprocess.Popen] = []
        count = max(1, math.ceil(total / PER_CLIENT))
        for i in range(count):
            cmd = [*c.pin(1), c.CLIENT_PY, str(c.LOADGEN), "ws", "--port", str(port)]
            cmd += ["--path", path, "--source", f"127.0.0.{2 + i}", "--concurrency", "24"]
            proc = c.spawn(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.procs.append(proc)

    def ask(self, command: str, procs: list[subprocess.Popen] | None = None) -> list[dict]:
        procs = procs or self.procs
        for proc in procs:
            proc.stdin.write(command.encode() + b"\n")
            proc.stdin.flush()
        replies = []
        for proc in procs:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"client exited (code {proc.poll()}) on {command!r}")
            replies.append(json.loads(line))
        return replies

    def open(self, total: int) -> dict:
        """Spread ``total`` new connections over the clients."""
        share, extra = divmod(total, len(self.procs))
        start = time.perf_counter()
        for i, proc in enumerate(self.procs):
            proc.stdin.write(f"open {share + (i < extra)}\n".encode())
            proc.stdin.flush()
        replies = [json.loads(proc.stdout.readline()) for proc in self.procs]
        return {
            "open": sum(r["open"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "seconds": time.perf_counter() - start,
        }

    def broadcast(self) -> tuple[float, int, int]:
        """Seconds from the send until the last client has the message; (seen, of)."""
        tag = uuid.uuid4().hex[:12]
        self.ask(f"expect {tag}")
        sent = self.ask(f"send {tag}", self.procs[:1])[0]["sent"]
        replies = self.ask("wait 10")
        seen, of = sum(r["seen"] for r in replies), sum(r["of"] for r in replies)
        return max(r["last"] for r in replies) - sent, seen, of

    def close(self) -> None:
        for proc in self.procs:
            try:
                proc.stdin.write(b"quit\n")
                proc.stdin.flush()
            except OSError:
                pass
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                c.stop(proc)
            c.stop(proc)


def gc_events(log: Path) -> list[tuple[str, float, float]]:
    if not log.exists():
        return []
    return [(k, float(t), float(d)) for k, t, d in (line.split() for line in log.open())]


def forced_collect(pid: int, log: Path, sig: int = signal.SIGUSR1) -> float:
    """Ask the probe in the server to time one gc.collect(); seconds."""
    before = len(gc_events(log))
    os.kill(pid, sig)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = gc_events(log)
        if len(events) > before and events[-1][0].endswith("collect"):
            return events[-1][2]
        time.sleep(0.05)
    return float("nan")


def run_server(
    name: str,
    cmd: list[str],
    cwd: Path | None,
    port: int,
    work: Path,
    sizes: tuple[int, int],
    rounds: int,
    pings: int,
) -> dict:
    """All figures for one server, one connection population."""
    mid, top = sizes
    log = work / f"{name}-gc.log"
    env = {**SERVER_ENV, "BENCH_GC_LOG": str(log)}
    out: dict = {}
    with c.server(cmd, port, cwd=cwd, env=env, log=work / f"{name}.log") as proc:
        pid = c.server_pid(proc)
        time.sleep(0.3)
        out["collect_idle_ms"] = forced_collect(pid, log) * 1e3
        rss0 = c.rss_kib(pid)
        clients = Clients(port, top)
        try:
            opened = clients.open(mid)
            out["open_rate"] = opened["open"] / opened["seconds"]
            out["failed"] = opened["failed"]
            marks = []
            times = []
            for _ in range(rounds):
                start = time.monotonic()
                seconds, seen, of = clients.broadcast()
                marks.append((start, time.monotonic()))
                if seen < of:
                    out.setdefault("missing", 0)
                    out["missing"] += of - seen
                times.append(seconds)
            out["broadcast_s"] = c.median(times)
            out["broadcast_max_s"] = max(times)
            out["at"] = opened["open"]
            fulls = [e for e in gc_events(log) if e[0] == "full"]
            inside = [e for e in fulls if any(a <= e[1] <= b for a, b in marks)]
            out["full_in_broadcast"] = len(inside)
            out["full_in_broadcast_ms"] = max((e[2] for e in inside), default=0) * 1e3
            ping = clients.ask(f"ping {pings}", clients.procs[:1])[0]
            out["ping_p99_ms"], out["ping_p50_ms"] = ping["p99_ms"], ping["p50_ms"]
            out["collect_mid_ms"] = forced_collect(pid, log) * 1e3
            more = clients.open(top - mid)
            out["failed"] += more["failed"]
            out["open_top"] = more["open"]
            time.sleep(0.5)
            out["kib_per_conn"] = (c.rss_kib(pid) - rss0) / max(1, more["open"])
            out["frozen_collect_ms"] = forced_collect(pid, log, signal.SIGUSR2) * 1e3
        finally:
            clients.close()
    return out


UNTUNED = {
    "freezer": "without HeapFreezer (no gc.freeze())",
    "pinger": "with Tornado's per-connection pings, not RoomPinger",
}


def untuned(project: Path, dest: Path, what: str) -> Path:
    """A copy of the generated project with one device of chat/tuning.py switched off."""
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns(".git"))
    edits = {
        "freezer": [("chat/room.py", "HeapFreezer()", "HeapFreezer(freeze_from=2**62)")],
        "pinger": [
            (
                "chat/__init__.py",
                "options.chat_history, options.ws_ping_interval)",
                "options.chat_history, 0)",
            ),
            (
                "chat/__init__.py",
                '"chat_rate": options.chat_rate,',
                '"chat_rate": options.chat_rate, '
                '"websocket_ping_interval": options.ws_ping_interval,',
            ),
        ],
    }[what]
    for name, old, new in edits:
        path = dest / name
        text = path.read_text()
        if old not in text:
            raise RuntimeError(f"bench/websocket.py: {name} no longer has {old!r}")
        path.write_text(text.replace(old, new, 1))
    return dest


def main() -> None:
    args = c.parse_args(__doc__, [c.EVENT_LOOP_ARG])
    nofile = c.raise_nofile()
    quick = args.quick
    rounds = args.runs or (2 if quick else 7)
    top = 300 if quick else min(19000, nofile - 200)
    mid = 200 if quick else 10000
    pings = 100 if quick else 3000
    print(f"machine: {c.machine()}; open-files limit {nofile}; client python {c.CLIENT_PY}")
    print(f"server event loop: {args.event_loop}")
    with c.scratch("bench-ws-") as work:
        home = work / "home"
        home.mkdir()
        project = c.generate(work / "app", home)
        servers: dict[str, tuple[list[str], Path | None, int]] = {}
        port = c.free_port()
        servers["peer"] = ([c.PY, str(PEER), str(port), args.event_loop], None, port)
        options = c.app_options(project)

        def gen(folder: Path, *extra: str) -> tuple[list[str], Path, int]:
            port = c.free_port()
            cmd = [c.PY, "app.py", f"--port={port}", "--address=127.0.0.1", *extra]
            cmd.append(f"--event_loop={args.event_loop}")
            if c.has_option(options, "tcp_port"):
                cmd.append(f"--tcp_port={c.free_port()}")
            return cmd, folder, port

        servers["generated"] = gen(project)
        if not quick:  # context rows: what each device of chat/tuning.py changes
            for what, label in UNTUNED.items():
                servers[f"generated {label}"] = gen(untuned(project, work / what, what))
        results = {
            name: run_server(
                name.split()[0] + str(i), cmd, cwd, port, work, (mid, top), rounds, pings
            )
            for i, (name, (cmd, cwd, port)) in enumerate(servers.items())
        }
    peer = results["peer"]
    rows = []
    names = [n for n in results if n != "peer"] or ["generated"]
    for name in [*names, "peer"]:
        r = results.get(name)
        if r is None:
            rows.append([name, "pending: no chat/ in the generated project yet"] + [""] * 9)
            continue
        reached = r["open_top"]
        mem_ratio = c.ratio(r["kib_per_conn"], peer["kib_per_conn"])
        ok = (
            reached >= top
            and mem_ratio <= 1.1
            and r["broadcast_s"] <= 0.5
            and r["ping_p99_ms"] < 0.5
        )
        rows.append(
            [
                name,
                f"{reached:,}/{top:,} ({r['failed']} failed)",
                c.fmt(r["open_rate"]),
                c.fmt(r["kib_per_conn"], 1),
                c.fmt(mem_ratio, 2),
                f"{c.fmt(r['broadcast_s'] * 1e3)} (max {c.fmt(r['broadcast_max_s'] * 1e3)})"
                + (f", {r['missing']} lost" if r.get("missing") else ""),
                c.fmt(r["ping_p99_ms"], 3),
                f"{r['full_in_broadcast']} (max {c.fmt(r['full_in_broadcast_ms'])} ms)",
                f"{c.fmt(r['collect_idle_ms'], 1)} / {c.fmt(r['collect_mid_ms'], 1)}",
                c.fmt(r["frozen_collect_ms"], 1),
                c.verdict(ok) if name == "generated" else ("" if name == "peer" else "(context)"),
            ]
        )
    c.table(
        f"WebSocket: {top:,} idle connections, broadcast and ping at {mid:,} ({rounds} broadcasts)",
        [
            "server",
            "connections reached",
            "opened/s",
            "KiB/conn",
            "mem ratio",
            f"broadcast to {mid:,} ms (median)",
            "ping p99 ms",
            "full gc passes in broadcasts",
            f"gc.collect() ms idle / at {mid:,}",
            f"gc.collect() after gc.freeze() at {top:,}",
            "targets (19,000; <=1.1x; <=0.5 s; p99 < 0.5 ms)",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
