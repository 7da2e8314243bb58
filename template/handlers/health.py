"""Probes for load balancers, containers and uptime checks: ``/healthz`` says the process
is alive, ``/readyz`` that the services its modules use (a database, Redis) answer too."""

import asyncio
import logging

from handlers.base import BaseHandler

log = logging.getLogger(__name__)

# Probes come every few seconds from every balancer: the answer is encoded once, here.
BODY = b'{"status": "ok"}'
READY_TIMEOUT = 2.0  # seconds each service has to answer; balancers time out soon after


class HealthHandler(BaseHandler):
    """Liveness: answers as long as the process serves, whatever its services do, so that a
    database outage does not get every process restarted."""

    summarised = False  # access_log.py: probes are not counted; errors and slow ones are logged
    checks_session = False  # a probe's answer never waits on the database (handlers/base.py)

    def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(BODY)


class ReadyHandler(BaseHandler):
    """Readiness: 200 when every module's services answer, else 503 naming the modules
    whose services do not (details go to the log, not to whoever asks)."""

    summarised = False
    checks_session = False  # its answer says whether the database answers; a cookie changes nothing

    async def get(self) -> None:
        modules = self.application.modules  # type: ignore[attr-defined]
        checks = [asyncio.wait_for(m.ready(self.application), READY_TIMEOUT) for m in modules]
        results = await asyncio.gather(*checks, return_exceptions=True)
        failing = {}
        for module, result in zip(modules, results, strict=True):
            if isinstance(result, BaseException):
                failing[type(module).__name__.lower()] = f"{type(result).__name__}: {result}"
        self.log_change(failing)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        if failing:
            self.set_status(503)
            self.finish({"status": "unavailable", "failing": sorted(failing)})
        else:
            self.finish({"status": "ready"})

    def log_change(self, failing: dict[str, str]) -> None:
        # Once per change, not once per probe: balancers ask every few seconds.
        app = self.application
        before = getattr(app, "not_ready", set())
        for name in failing.keys() - before:
            log.warning("Not ready: %s: %s", name, failing[name][:300])
        for name in before - failing.keys():
            log.info("Ready again: %s", name)
        app.not_ready = set(failing)  # type: ignore[attr-defined]
