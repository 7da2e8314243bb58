"""EVENT_LOOP=uvloop runs the tests on uvloop, the loop the app runs on where it is installed."""

import asyncio
import os

if os.environ.get("EVENT_LOOP") == "uvloop":
    import uvloop

    # Each tornado.testing test case makes its loop with asyncio.new_event_loop().
    asyncio.new_event_loop = uvloop.new_event_loop
