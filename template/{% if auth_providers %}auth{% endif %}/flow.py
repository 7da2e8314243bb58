"""The handler base classes every provider shares: callback URL, sign-in and errors.

Each provider has its own module (``auth/<provider>.py``) whose ``LoginHandler`` derives from
`ProviderLoginHandler` (or `OAuth2LoginHandler`). One URL, ``/auth/<provider>/login``, both
starts the login (redirect to the provider) and receives the provider's callback, so only that
URL must be registered there. The logins in progress and the replay guard are auth/state.py's.
"""

import base64
import hashlib
import json
import logging
import urllib.parse
from typing import Any, ClassVar

import tornado.auth
import tornado.escape
import tornado.httpclient
import tornado.web

from auth import state
from auth.config import ProviderConfig, option_name
from auth.state import Login
from handlers.base import USER_COOKIE, BaseHandler

log = logging.getLogger(__name__)

MAX_NEXT = 2048  # longest ?next= page kept; a longer one falls back to the home page
HTTP_TIMEOUT = 10.0  # seconds for each request this app makes to a provider
# What a provider needs to sign the user out there too (OpenID Connect: the ID token, as
# id_token_hint), in a signed cookie of its own: the user cookie never carries tokens.
SIGN_OUT_COOKIE = "auth_sign_out"


def shown_name(name: str, user_id: Any) -> str:
    """A provider's display name as every page shows it: characters that cannot be seen
    (format characters such as U+202E, which reverses the text after it; control
    characters) dropped, white space made single spaces; the user id when nothing is left."""
    kept = "".join(c if c.isprintable() else " " if c.isspace() else "" for c in name)
    return " ".join(kept.split()) or str(user_id)


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


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


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
            option = option_name(config.provider, "url")
            raise ValueError(f"--{option} must be an http(s) URL, got {config.url!r}")

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
        """A new login going to the validated ?next= page (auth/state.py keeps it)."""
        return state.start(self, self.provider, safe_next(self.get_argument("next", None)))

    def finish_login(self) -> Login | None:
        """The login this callback finishes, used up; None (the page refuses it) if none."""
        try:
            return state.finish(self, self.provider, self.get_argument("state", ""))
        except state.InvalidState:
            log.warning("%s callback with a missing, wrong or expired state: refused", self.label)
            self.fail(403, "This sign-in link is invalid or has expired. Please start again.")
        except state.Replayed:
            log.warning("%s callback replayed: refused", self.label)
            self.fail(403, "This sign-in link was used already. Please start again.")
        return None

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
