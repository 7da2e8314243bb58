"""Logins in progress and the replay guard: the state every sign-in passes through.

A login in progress lives in its own signed cookie, named after its ``state``, until the
provider sends the user back: two logins started in one browser do not overwrite each other,
and a callback with a wrong ``state`` finds no cookie and leaves the real login alone. The
callback uses the cookie up. What stops a replayed callback:

- in this browser: the cookie is cleared;
- in this process: `FINISHED` remembers each finished login until its cookie would expire,
  so even a copied cookie does not work twice;
- in every process and on every machine: the provider accepts an authorization code once,
  and PKCE (where the provider supports it) binds the code to the login that asked for it.
  `FINISHED` is per process: with ``--processes`` or several machines a replay may reach a
  process that has not seen the login, and then only the provider's rule holds.

`start` and `finish` are the only ways in and out; the handlers (auth/flow.py) turn a
refused callback into a page.
"""

import json
import secrets
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass

import tornado.web

LOGIN_COOKIE = "auth_login_"  # + the start of the login's state: one cookie per login
LOGIN_MAX_AGE = 600  # seconds: long enough to approve the app, short enough to limit replays
MAX_LOGINS = 4  # logins in progress per browser; a new one beyond that drops the oldest


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits, URL-safe


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two strings of any characters."""
    return secrets.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True)
class Login:
    """A login in progress: what its callback must match, kept in a signed cookie."""

    provider: str
    state: str  # sent to the provider and back: ties the callback to this browser
    next: str  # the page to go to once signed in (already checked by safe_next)
    started: float  # time.time() when the login started
    verifier: str  # PKCE code verifier: ties the authorization code to this login
    nonce: str  # OpenID Connect: ties the ID token to this login

    @classmethod
    def new(cls, provider: str, next_page: str) -> "Login":
        return cls(provider, new_secret(), next_page, time.time(), new_secret(), new_secret())

    @property
    def cookie(self) -> str:
        return cookie_name(self.state)

    @property
    def expires(self) -> float:
        return self.started + LOGIN_MAX_AGE


def cookie_name(state: str) -> str:
    # The start of the state is enough to tell a browser's logins apart; the whole state,
    # inside the signed value, is what the callback must match.
    return LOGIN_COOKIE + state[:16]


class FinishedLogins:
    """The logins this process finished, remembered until their cookies expire.

    Bounded: past ``limit`` entries the oldest is forgotten (its replay then meets the
    provider's one-use code). Per process: see the module docstring.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._expires: OrderedDict[str, float] = OrderedDict()  # state: expiry, oldest first

    def __len__(self) -> int:
        return len(self._expires)

    def add(self, login: Login) -> bool:
        """Remember ``login`` as finished; False if it was finished already (a replay)."""
        now = time.time()
        if self._expires.get(login.state, 0.0) > now:
            return False
        while self._expires:
            oldest = next(iter(self._expires.values()))
            if oldest > now and len(self._expires) < self.limit:
                break
            self._expires.popitem(last=False)
        self._expires[login.state] = login.expires
        return True


FINISHED = FinishedLogins()


class InvalidState(Exception):
    """The callback's ``state`` names no login of this browser and provider, or an expired one."""


class Replayed(Exception):
    """The callback finishes a login this process finished already."""


def start(handler: tornado.web.RequestHandler, provider: str, next_page: str) -> Login:
    """A new login going to ``next_page`` (checked already), in its own cookie till the callback."""
    drop_old(handler)
    login = Login.new(provider, next_page)
    handler.set_signed_cookie(
        login.cookie, json.dumps(asdict(login)), expires_days=None, max_age=LOGIN_MAX_AGE
    )
    return login


def drop_old(handler: tornado.web.RequestHandler) -> None:
    """Keep the browser's logins in progress under MAX_LOGINS: clear the oldest and stale."""
    logins = []
    for name in handler.request.cookies:
        if name.startswith(LOGIN_COOKIE):
            login = read(handler, name)
            if login is None:
                handler.clear_cookie(name)
            else:
                logins.append(login)
    logins.sort(key=lambda login: login.started)
    for login in logins[: max(0, len(logins) - MAX_LOGINS + 1)]:
        handler.clear_cookie(login.cookie)


def read(handler: tornado.web.RequestHandler, name: str) -> Login | None:
    """The login saved in cookie ``name``, or None if absent, forged, expired or malformed."""
    raw = handler.get_signed_cookie(name, max_age_days=LOGIN_MAX_AGE / 86400)
    if raw is None:
        return None
    try:
        return Login(**json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, TypeError):
        return None


def finish(handler: tornado.web.RequestHandler, provider: str, state: str) -> Login:
    """The login the callback with ``state`` finishes, used up; InvalidState or Replayed if none.

    Only the cookie named after ``state`` is read and cleared: a forged callback cannot cancel
    another login in progress.
    """
    login = read(handler, cookie_name(state)) if state else None
    if login is None or login.provider != provider or not same(login.state, state):
        raise InvalidState
    handler.clear_cookie(login.cookie)
    if not FINISHED.add(login):
        raise Replayed
    return login
