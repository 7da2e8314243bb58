"""What an optional module (``auth/``, ``chat/``, ``echo/``) gives ``app.py``: the contract.

Each module's package defines its own options, as Tornado's modules do, and one subclass
of ``Module`` that overrides only the parts it has; ``app.py`` lists an instance of each in
``MODULES`` and calls them in this order: ``check()`` once before workers fork, then in
each worker ``routes()``, ``settings()`` and ``setup(app)`` as the application is built,
``start(app)`` once it listens and ``stop(app, timeout)`` on shutdown, in reverse order;
``ready(app)`` whenever ``/readyz`` is asked.
"""

from typing import Any

import tornado.web

import server


class Module:
    """One optional module's part in the application. The defaults do nothing."""

    # The header's links to the module's pages: (label, route name).
    nav: tuple[tuple[str, str], ...] = ()
    # What the module adds to the header after the links: (name, UI module), shown in order.
    header: tuple[tuple[str, type[tornado.web.UIModule]], ...] = ()

    def check(self) -> None:
        """Refuse options that cannot work with a ValueError naming them."""

    def routes(self) -> list[tornado.web.URLSpec]:
        """The module's pages."""
        return []

    def settings(self) -> dict[str, Any]:
        """Application settings the module's handlers read (``self.settings``)."""
        return {}

    def setup(self, app: server.Application) -> None:
        """Give the new application the objects the module runs on, as its attributes."""

    async def start(self, app: server.Application) -> None:
        """Start serving, once the HTTP server listens."""

    async def ready(self, app: server.Application) -> None:
        """Raise if a service the module needs (a database, Redis) does not answer now."""

    async def stop(self, app: server.Application, timeout: float) -> None:
        """Stop within ``timeout`` seconds, once the HTTP server has stopped listening."""
