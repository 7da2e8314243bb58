"""The peers' event loop: ``run(main(), "asyncio")`` or ``run(main(), "uvloop")`` (argv)."""

import asyncio
from collections.abc import Coroutine
from typing import Any


def run(main: Coroutine[Any, Any, None], loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)
