"""Where a generated project's HTTP time goes: py-spy samples the server while wrk loads a path.

Prints the functions holding the most samples (inclusive and own). Needs py-spy (bench venv)
and wrk (or the Python client). Example: python bench/profile_web.py --path /healthz
"""

from __future__ import annotations

import collections
import shutil

import common as c
import web


def main() -> None:
    args = c.parse_args(
        __doc__,
        [
            ("--path", {"default": "/healthz"}),
            ("--seconds", {"type": int, "default": 8}),
            ("--top", {"type": int, "default": 25}),
        ],
    )
    pyspy = c.tool("py-spy")
    if not pyspy:
        raise SystemExit("py-spy is missing: pip install -r bench/requirements.txt")
    client = "wrk" if shutil.which("wrk") else "python"
    seconds = 2 if args.quick else args.seconds
    with c.scratch("bench-prof-") as work:
        home = work / "home"
        home.mkdir()
        project = c.generate(work / "app", home)
        port = c.free_port()
        cmd = web.gen_cmd(project, port, c.app_options(project))
        raw = work / "stacks.txt"
        with c.server(cmd, port, cwd=project, env=web.SERVER_ENV, log=work / "app.log") as proc:
            url = f"http://127.0.0.1:{port}{args.path}"
            web.load(url, 1, client)  # warm-up
            spy = c.spawn(
                [
                    pyspy,
                    "record",
                    "--pid",
                    str(proc.pid),
                    "--format",
                    "raw",
                    "--rate",
                    "250",
                    "--duration",
                    str(seconds),
                    "-o",
                    str(raw),
                ]
            )
            try:
                result = web.load(url, seconds + 1, client)
                spy.wait(seconds + 20)
            finally:
                c.stop(spy)
        inclusive: collections.Counter[str] = collections.Counter()
        own: collections.Counter[str] = collections.Counter()
        total = 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [
                f.split(" (")[0] + " (" + f.split(" (")[-1].split("/")[-1] for f in stack.split(";")
            ]
            total += int(count)
            for frame in set(frames):
                inclusive[frame] += int(count)
            own[frames[-1]] += int(count)
    print(f"{args.path}: {result['rps']:,.0f} req/s under py-spy ({client}); {total} samples")
    c.table(
        f"inclusive share of samples, {args.path}",
        ["%", "function (file:line)"],
        [[c.fmt(100 * n / total, 1), f] for f, n in inclusive.most_common(args.top)],
    )
    c.table(
        f"own share of samples, {args.path}",
        ["%", "function (file:line)"],
        [[c.fmt(100 * n / total, 1), f] for f, n in own.most_common(args.top)],
    )


if __name__ == "__main__":
    main()
