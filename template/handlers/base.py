"""The base class every page handler derives from."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.web
from tornado.escape import utf8

from handlers.security import SecurityHeadersMixin

# Signed cookie holding the signed-in user as JSON ({"provider", "id", "name"}, and with a
# database "uid" and "sv": see check_session): signed, so a client cannot forge it, but not
# encrypted, so it must never carry tokens or secrets.
USER_COOKIE = "user"

# The ``session_check`` setting: is this signed-in user's session still current?
SessionCheck = Callable[[tornado.web.RequestHandler, dict[str, Any]], Awaitable[bool]]


def check_session(handler: tornado.web.RequestHandler) -> Awaitable[None] | None:
    """Where sign-in keeps users in a database (the ``session_check`` setting), a session
    ends when its user's session version moves on (a password change): None when there is
    nothing to check, else the check, to await before the handler uses ``current_user``.

    Until the check passes, get_current_user() says nobody is signed in, so a handler that
    drops it fails closed (and Python warns of a coroutine never awaited).
    """
    check: SessionCheck | None = handler.settings.get("session_check")
    if check is None or not getattr(handler, "checks_session", True):
        return None
    user = handler.get_current_user()  # the cookie's user
    if user is None:
        return None
    handler._session_unchecked = True  # type: ignore[attr-defined]
    return _check_session(handler, check, user)


async def _check_session(
    handler: tornado.web.RequestHandler, check: SessionCheck, user: dict[str, Any]
) -> None:
    if await check(handler, user):
        handler._session_unchecked = False  # type: ignore[attr-defined]
        handler.current_user = user
    else:
        handler.clear_cookie(USER_COOKIE)  # signed out elsewhere: this browser too


class BaseHandler(SecurityHeadersMixin, tornado.web.RequestHandler):
    """Shared behaviour: security headers, drain counter, current user, namespace, error pages."""

    _counted = False

    def prepare(self) -> Awaitable[None] | None:
        """Count the request in flight; then the session check, if there is one to await
        (see check_session): a subclass's prepare must return or await what this returns."""
        self.application.requests_in_flight += 1  # type: ignore[attr-defined]
        self._counted = True
        return check_session(self)

    def on_finish(self) -> None:
        if self._counted:
            self.application.requests_in_flight -= 1  # type: ignore[attr-defined]
            self._counted = False

    def set_cookie(self, name: str, value: str | bytes, **kwargs: Any) -> None:
        # Secure by default for every cookie set here (signed ones, _xsrf, the sign-in
        # mixins' own): SameSite=Lax, Secure over HTTPS (behind a proxy: --xheaders), and
        # out of scripts' reach except the XSRF token, which a script may need to send.
        kwargs.setdefault("samesite", "Lax")
        if self.request.protocol == "https":
            kwargs.setdefault("secure", True)
        if name != self.settings.get("xsrf_cookie_name", "_xsrf"):
            kwargs.setdefault("httponly", True)
        super().set_cookie(name, value, **kwargs)

    def get_current_user(self) -> dict[str, Any] | None:
        if getattr(self, "_session_unchecked", False):
            return None  # its session is being checked, or was refused (check_session)
        raw = self.get_signed_cookie(USER_COOKIE)  # bytes, or None if absent, forged or expired
        if raw is None:
            return None
        try:
            user = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(user, dict) or not isinstance(user.get("name"), str):
            return None
        return user

    def compute_etag(self) -> None:
        # Pages differ per visitor (XSRF token, login): hashing every body for an ETag costs
        # more than the rare 304 saves. Static files keep theirs.
        return None

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace["project_name"] = self.settings["project_name"]
        # (label, route name) pairs for the header; make_app() fills them per enabled module.
        namespace["nav"] = self.settings.get("nav", ())
        return namespace

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if self.settings.get("serve_traceback") and "exc_info" in kwargs:
            return super().write_error(status_code, **kwargs)  # debug mode only
        self.render("error.html", status_code=status_code, reason=self._reason)


class Header(tornado.web.UIModule):
    """The parts the enabled modules add to the page header after its links: UI modules,
    named in order in the ``header`` setting (make_app() fills it)."""

    def render(self) -> bytes:
        modules = self.ui["modules"]  # as templates call them: each one's resources collected
        return b"".join(utf8(modules[name]()) for name in self.handler.settings.get("header", ()))


class NotFoundHandler(BaseHandler):
    """Answers every unknown path with the custom 404 page."""

    async def prepare(self) -> None:
        checking = super().prepare()
        if checking is not None:
            await checking  # the page's header shows who is signed in
        raise tornado.web.HTTPError(404)
