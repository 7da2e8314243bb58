"""The login flow every provider shares: configuration, logins in progress, cookies, errors.

Each provider has its own module (``auth/<provider>.py``) whose ``LoginHandler`` derives from
`ProviderLoginHandler` (or `OAuth2LoginHandler`). One URL, ``/auth/<provider>/login``, both
starts the login (redirect to the provider) and receives the provider's callback, so only that
URL must be registered there.

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
"""

import base64
import hashlib
import json
import logging
import secrets
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import tornado.auth
import tornado.escape
import tornado.httpclient
import tornado.web

from handlers.base import USER_COOKIE, BaseHandler

log = logging.getLogger(__name__)

LOGIN_COOKIE = "auth_login_"  # + the start of the login's state: one cookie per login
LOGIN_MAX_AGE = 600  # seconds: long enough to approve the app, short enough to limit replays
MAX_LOGINS = 4  # logins in progress per browser; a new one beyond that drops the oldest
MAX_NEXT = 2048  # longest ?next= page kept; a longer one falls back to the home page
HTTP_TIMEOUT = 10.0  # seconds for each request this app makes to a provider
# What a provider needs to sign the user out there too (OpenID Connect: the ID token, as
# id_token_hint), in a signed cookie of its own: the user cookie never carries tokens.
SIGN_OUT_COOKIE = "auth_sign_out"


@dataclass(frozen=True)
class Provider:
    """A row of the provider table (auth/providers.py)."""

    name: str  # in URLs (/auth/<name>/login), option and variable names
    label: str  # shown to users
    handler: type["ProviderLoginHandler"]
    variables: tuple[str, ...]  # the environment variables it needs
    docs: str  # how to register the app with the provider


def shown_name(name: str, user_id: Any) -> str:
    """A provider's display name as every page shows it: characters that cannot be seen
    (format characters such as U+202E, which reverses the text after it; control
    characters) dropped, white space made single spaces; the user id when nothing is left."""
    kept = "".join(c if c.isprintable() else " " if c.isspace() else "" for c in name)
    return " ".join(kept.split()) or str(user_id)


@dataclass(frozen=True)
class ProviderConfig:
    """One provider's settings, from options or environment (auth/__init__.py), never code."""

    provider: str
    label: str
    client_id: str = ""
    client_secret: str = ""
    # Base URL that replaces the provider's public hosts (GitHub Enterprise, a proxy, a test
    # fake); empty means the provider's real endpoints.
    url: str = ""
    issuer: str = ""  # OpenID Connect: the provider's issuer URL
    scopes: str = ""  # OpenID Connect: space-separated; empty means the handler's default
    required: tuple[str, ...] = ("client_id", "client_secret")  # fields sign-in cannot do without

    def missing(self) -> list[str]:
        """Names of the environment variables still to set; empty when sign-in can work."""
        prefix = self.provider.upper()
        return [f"{prefix}_{name.upper()}" for name in self.required if not getattr(self, name)]


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default``: no open redirects.

    Refuses absolute and scheme-relative URLs (``http://evil``, ``//evil``), backslashes (which
    browsers read as slashes: ``/\\evil``), control characters (browsers drop tabs and
    newlines, turning ``/\\t/evil`` into ``//evil``) and very long paths (they would bloat the
    login cookie).
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return default
    if len(target) > MAX_NEXT:
        return default
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 random bits, URL-safe


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two strings of any characters."""
    return secrets.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


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


class AuthBaseHandler(BaseHandler):
    """Renders the auth pages: the login page and a failure page with a clear message."""

    def fail(self, status_code: int, message: str) -> None:
        self.set_status(status_code)
        self.render("auth_error.html", status_code=status_code, message=message)


class ProviderLoginHandler(AuthBaseHandler):
    """The flow every provider shares: configuration check, callback URL, logins and errors.

    The route gives each its ``provider`` name (auth/__init__.py). Subclasses implement
    `use_base_url` (point the mixin's endpoints at another host) and `get` (start the login, or
    finish it on the callback and call `sign_in`).
    """

    log_query = False  # callbacks carry codes and tokens: the access log shows the path only
    sign_out_hint = ""  # kept until sign-out when the provider's sign-out needs it

    # The provider's options, --<provider>_<name> (env <PROVIDER>_<NAME>), each a field of
    # ProviderConfig ("label" replaces the provider's label); {label} is the provider's label.
    options: ClassVar[dict[str, str]] = {
        "client_id": "{label} client ID",
        "client_secret": "{label} client secret",
        "url": "base URL for {label}'s hosts",
    }

    @classmethod
    def check_config(cls, config: ProviderConfig) -> None:
        """Raise ValueError, naming the option, for a setting that cannot work."""
        if config.url and not config.url.startswith(("https://", "http://")):
            raise ValueError(f"--{config.provider}_url must be an http(s) URL, got {config.url!r}")

    @classmethod
    async def logout_url(cls, config: ProviderConfig, return_to: str, hint: str) -> str | None:
        """Where to send a user who signs out, to sign out at the provider too; None: nowhere.

        ``return_to`` is where the provider sends them back; ``hint`` is what `fetch_user`
        left in ``sign_out_hint`` when they signed in.
        """
        return None

    def initialize(self, provider: str) -> None:
        self.provider = provider

    @property
    def config(self) -> ProviderConfig:
        return self.settings["auth_providers"][self.provider]

    @property
    def label(self) -> str:
        return self.config.label

    def prepare(self) -> None:
        super().prepare()
        missing = self.config.missing()
        if missing:
            # A clear page and log line instead of a KeyError traceback at the provider call.
            names = " and ".join(missing)
            log.warning("%s sign-in is not configured: set %s", self.label, names)
            self.fail(503, f"{self.label} sign-in is not configured yet: set {names}.")
            return
        if self.config.url:
            self.use_base_url(self.config.url.rstrip("/"))

    def use_base_url(self, base: str) -> None:
        raise NotImplementedError

    def callback_url(self) -> str:
        # Built from the request, so it follows the public scheme and host behind a proxy
        # (HTTPServer(xheaders=True)); register exactly this URL with the provider.
        route = self.reverse_url(f"auth_{self.provider}")
        return f"{self.request.protocol}://{self.request.host}{route}"

    def start_login(self) -> Login:
        """A new login with the validated next page, saved in its own cookie until the callback."""
        self.drop_old_logins()
        login = Login.new(self.provider, safe_next(self.get_argument("next", None)))
        self.set_signed_cookie(
            login.cookie,
            json.dumps(asdict(login)),
            expires_days=None,
            max_age=LOGIN_MAX_AGE,
        )
        return login

    def drop_old_logins(self) -> None:
        """Keep the browser's logins in progress under MAX_LOGINS: clear the oldest and stale."""
        logins = []
        for name in self.request.cookies:
            if name.startswith(LOGIN_COOKIE):
                login = self.read_login(name)
                if login is None:
                    self.clear_cookie(name)
                else:
                    logins.append(login)
        logins.sort(key=lambda login: login.started)
        for login in logins[: max(0, len(logins) - MAX_LOGINS + 1)]:
            self.clear_cookie(login.cookie)

    def read_login(self, name: str) -> Login | None:
        """The login saved in cookie ``name``, or None if absent, forged, expired or malformed."""
        raw = self.get_signed_cookie(name, max_age_days=LOGIN_MAX_AGE / 86400)
        if raw is None:
            return None
        try:
            return Login(**json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, TypeError):
            return None

    def finish_login(self) -> Login | None:
        """The login this callback finishes, used up; None (the page refuses it) if there is none.

        Only the cookie named after the returned ``state`` is read and cleared: a forged
        callback cannot cancel another login in progress.
        """
        state = self.get_argument("state", "")
        login = self.read_login(cookie_name(state)) if state else None
        if login is None or login.provider != self.provider or not same(login.state, state):
            log.warning("%s callback with a missing, wrong or expired state: refused", self.label)
            self.fail(403, "This sign-in link is invalid or has expired. Please start again.")
            return None
        self.clear_cookie(login.cookie)
        if not FINISHED.add(login):
            log.warning("%s callback replayed: refused", self.label)
            self.fail(403, "This sign-in link was used already. Please start again.")
            return None
        return login

    def sign_in(self, user_id: Any, name: str, next_page: str | None) -> None:
        """Set the user cookie and go to the page the user wanted (same site only)."""
        user = {"provider": self.provider, "id": str(user_id), "name": shown_name(name, user_id)}
        self.set_signed_cookie(USER_COOKIE, json.dumps(user))
        if self.sign_out_hint:
            self.set_signed_cookie(SIGN_OUT_COOKIE, self.sign_out_hint)
        else:
            self.clear_cookie(SIGN_OUT_COOKIE)
        log.info("%s user %s signed in", self.label, user["id"])
        self.redirect(safe_next(next_page, self.reverse_url("index")))

    def provider_error(self, error: Exception) -> None:
        """Turn a failed provider exchange into a page instead of a traceback."""
        if isinstance(error, tornado.httpclient.HTTPClientError) and error.code < 500:
            log.warning("%s refused the sign-in: %s", self.label, error)
            self.fail(403, f"{self.label} refused the sign-in. Please try again.")
        elif isinstance(error, tornado.auth.AuthError):
            log.warning("%s sign-in failed: %s", self.label, error)
            self.fail(403, f"{self.label} sign-in failed. Please try again.")
        elif isinstance(error, (ValueError, KeyError)):
            log.error("%s sent an unexpected answer: %r", self.label, error)
            self.fail(502, f"{self.label} sent an unexpected answer. Please try again later.")
        else:  # network errors, timeouts (599) and the provider's 5xx
            log.error("Could not reach %s: %s", self.label, error)
            self.fail(502, f"Could not reach {self.label}. Please try again later.")


# Errors a provider exchange may raise: refusals, network failures, malformed answers.
PROVIDER_ERRORS = (
    tornado.httpclient.HTTPClientError,
    tornado.auth.AuthError,
    OSError,
    ValueError,
    KeyError,
)


class OAuth2LoginHandler(ProviderLoginHandler):
    """OAuth 2.0 authorization-code flow with the ``state`` check Tornado leaves to apps."""

    scope: ClassVar[list[str]] = []
    pkce: ClassVar[bool] = False  # send a PKCE (S256) challenge: for providers that check it

    async def get(self) -> None:
        args = self.request.arguments
        if "code" not in args and "error" not in args and "state" not in args:
            try:
                await self.discover()
            except PROVIDER_ERRORS as error:
                self.provider_error(error)
                return
            login = self.start_login()
            self.authorize_redirect(  # type: ignore[attr-defined]
                redirect_uri=self.callback_url(),
                client_id=self.config.client_id,
                scope=self.scopes(),
                extra_params=self.authorize_params(login),
            )
            return
        login = self.finish_login()
        if login is None:
            return
        if "code" not in args:  # the user declined, or the provider reported an error
            self.fail(401, f"Sign-in with {self.label} was cancelled.")
            return
        try:
            user_id, name = await self.fetch_user(self.get_argument("code"), login)
        except PROVIDER_ERRORS as error:
            self.provider_error(error)
            return
        self.sign_in(user_id, name, login.next)

    async def discover(self) -> None:
        """Learn the provider's endpoints before a login (OpenID Connect); most have fixed ones."""

    def scopes(self) -> list[str]:
        return self.scope

    def authorize_params(self, login: Login) -> dict[str, str]:
        """Parameters of the authorization request beyond client, callback and scope."""
        params = {"state": login.state}
        if self.pkce:
            params["code_challenge"] = pkce_challenge(login.verifier)
            params["code_challenge_method"] = "S256"
        return params

    async def exchange_code(self, code: str, login: Login, basic_auth: bool = False) -> Any:
        """Trade the authorization code for tokens at the token endpoint (RFC 6749 4.1.3).

        The client authenticates in the body, or with HTTP Basic when ``basic_auth`` (what
        OpenID Connect providers expect by default); the PKCE verifier goes along when used.
        """
        config = self.config
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.callback_url(),
        }
        headers = {"Accept": "application/json"}
        if self.pkce:
            body["code_verifier"] = login.verifier
        if basic_auth:
            quote = urllib.parse.quote_plus  # RFC 6749 2.3.1: form-encoded, then Base64
            pair = f"{quote(config.client_id)}:{quote(config.client_secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            body.update(client_id=config.client_id, client_secret=config.client_secret)
        response = await self.get_auth_http_client().fetch(  # type: ignore[attr-defined]
            self._OAUTH_ACCESS_TOKEN_URL,  # type: ignore[attr-defined]
            method="POST",
            headers=headers,
            body=urllib.parse.urlencode(body),
            request_timeout=HTTP_TIMEOUT,
        )
        token = tornado.escape.json_decode(response.body)
        # Some providers (GitHub) answer a bad or reused code with 200 and an "error" field.
        if not isinstance(token, dict) or "access_token" not in token:
            error = token.get("error", "no access token") if isinstance(token, dict) else token
            raise tornado.auth.AuthError(f"token exchange failed: {error}")
        return token

    async def fetch_user(self, code: str, login: Login) -> tuple[Any, str]:
        """Exchange the code for a token, then return the user's (id, display name)."""
        raise NotImplementedError
