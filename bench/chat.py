"""Chat room figures: the Redis room (several processes) beside the in-memory room (one process).

1. Broadcast to 10,000 members until the last one has it: the in-memory room in one process
   (pinned to core 0, as in bench/websocket.py) and the Redis room with its members spread by
   the kernel over 2 worker processes (`--processes=2`, unpinned: two workers need both cores).
2. Messages per second through one room with 100 senders: each of 100 connections sends its
   next message once its previous one has come back to it, so 100 messages are in flight and
   each reaches all 100 members (`--chat_rate=0`: the per-connection limit off, to measure the
   room, not the limit).

Each generated server runs in turn with a private redis-server (free port, temporary folder,
nothing saved); clients are bench/loadgen.py processes on core 1 (bench/websocket.py's).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import common as c
from websocket import Clients

TARGET_BROADCAST_S = 0.5


@contextlib.contextmanager
def room(cmd: list[str], cwd: Path, port: int, core: int | None, members: int) -> Iterator[Clients]:
    """The server of ``cmd`` with ``members`` connections open; stopped on exit."""
    with c.server(cmd, port, cwd=cwd, core=core, log=cwd / f"server-{port}.log"):
        clients = Clients(port, members)
        try:
            clients.opened = clients.open(members)["open"]
            yield clients
        finally:
            clients.close()


def broadcast(clients: Clients, rounds: int) -> dict:
    times, lost = [], 0
    for _ in range(rounds):
        seconds, seen, of = clients.broadcast()
        times.append(seconds)
        lost += of - seen
    return {"open": clients.opened, "s": c.median(times), "max_s": max(times), "lost": lost}


def chat_rate(clients: Clients, count: int) -> dict:
    return clients.ask(f"chat {count} {uuid.uuid4().hex[:10]}", clients.procs[:1])[0]


def main() -> None:
    args = c.parse_args(__doc__, [c.EVENT_LOOP_ARG])
    nofile = c.raise_nofile()
    quick = args.quick
    members = 200 if quick else 10_000
    rounds = args.runs or (2 if quick else 7)
    senders, count = (10, 5) if quick else (100, 30)
    print(f"machine: {c.machine()}; open-files limit {nofile}; client python {c.CLIENT_PY}")
    print(f"server event loop: {args.event_loop}")
    with c.scratch("bench-chat-") as work:
        home = work / "home"
        home.mkdir()
        project = c.generate(work / "app", home)
        extra = [f"--tcp_port={c.free_port()}"] if (project / "echo").is_dir() else []
        with c.redis_server(work) as url:
            rooms = {  # name: (extra options, pinned core or None)
                "in memory, 1 process": ([], 0),
                "Redis, 1 process": ([f"--redis_url={url}"], 0),
                "Redis, 2 processes": ([f"--redis_url={url}", "--processes=2"], None),
            }
            results: dict[str, dict] = {}
            for name, (options, core) in rooms.items():
                if options and not url:
                    continue
                results[name] = {}
                for figure, size in (("broadcast", members), ("chat", senders)):
                    port = c.free_port()  # a fresh server for each figure
                    cmd = [c.PY, "app.py", f"--port={port}", "--address=127.0.0.1", *extra]
                    cmd += [
                        *options,
                        "--chat_rate=0",
                        f"--event_loop={args.event_loop}",
                    ]  # the rate limit is not measured here
                    with room(cmd, project, port, core, size) as clients:
                        if figure == "broadcast":
                            results[name][figure] = broadcast(clients, rounds)
                        else:
                            results[name][figure] = chat_rate(clients, count)
                    log = (project / f"server-{port}.log").read_text()
                    results[name][figure]["dropped"] = log.count("Chat: closing")  # none expected
    rows = []
    memory = results["in memory, 1 process"]
    for name, r in results.items():
        b, m = r["broadcast"], r["chat"]
        rate = m["messages"] / m["seconds"]
        rows.append(
            [
                name,
                f"{b['open']:,}",
                f"{c.fmt(b['s'] * 1e3)} (max {c.fmt(b['max_s'] * 1e3)})"
                + (f", {b['lost']} lost" if b["lost"] else ""),
                c.fmt(c.ratio(b["s"], memory["broadcast"]["s"]), 2),
                f"{c.fmt(rate)}"
                + ("" if m["finished"] else " (unfinished)")
                + (f", {m['dropped']} dropped" if m["dropped"] else ""),
                c.fmt(m["delivered"] / m["seconds"]),
                f"{c.fmt(m['p50_ms'], 1)} / {c.fmt(m['p99_ms'], 1)}",
                c.fmt(c.ratio(rate, memory["chat"]["messages"] / memory["chat"]["seconds"]), 2),
                c.verdict(b["s"] <= TARGET_BROADCAST_S and not b["lost"])
                if name == "Redis, 2 processes"
                else "",
            ]
        )
    c.table(
        f"Chat rooms: broadcast to {members:,} ({rounds} rounds), {senders} senders x {count}"
        " messages",
        [
            "room",
            "members",
            f"broadcast to {members:,} ms (median)",
            "vs in memory",
            f"messages/s, {senders} senders",
            "deliveries/s",
            "own message back p50 / p99 ms",
            "vs in memory",
            f"target: broadcast <= {TARGET_BROADCAST_S} s over 2 processes",
        ],
        rows,
    )
    print(json.dumps({"results": results}), flush=True)


if __name__ == "__main__":
    main()
