"""Liveness probe for load balancers, containers and uptime checks."""

from handlers.base import BaseHandler


class HealthHandler(BaseHandler):
    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.write({"status": "ok"})
