"""Liveness probe for load balancers, containers and uptime checks."""

from handlers.base import BaseHandler

# Probes come every few seconds from every balancer: the answer is encoded once, here.
BODY = b'{"status": "ok"}'


class HealthHandler(BaseHandler):
    summarised = False  # access_log.py: probes are not counted; errors and slow ones are logged

    def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(BODY)
