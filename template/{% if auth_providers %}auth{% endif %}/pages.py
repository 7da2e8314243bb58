"""The sign-in pages: the login page listing the providers, logout, and a profile page."""

import tornado.web
from tornado.httputil import url_concat

from auth.flow import SIGN_OUT_COOKIE, AuthBaseHandler, safe_next
from auth.providers import PROVIDERS
from handlers.base import USER_COOKIE, BaseHandler

HANDLERS = {provider.name: provider.handler for provider in PROVIDERS}


class LoginPageHandler(AuthBaseHandler):
    """The login page (the app's ``login_url``): one link per enabled provider."""

    def get(self) -> None:
        next_page = safe_next(self.get_argument("next", None))
        params = {"next": next_page} if next_page != "/" else {}
        providers = [
            (config.label, url_concat(self.reverse_url(f"auth_{name}"), params))
            for name, config in self.settings["auth_providers"].items()
        ]
        self.render("login.html", providers=providers)


class LogoutHandler(BaseHandler):
    """POST only, with the XSRF token: a GET logout could be triggered by any other site.

    Signs out here, then at the provider too when it offers that (OpenID Connect).
    """

    async def post(self) -> None:
        user = self.current_user
        hint = self.get_signed_cookie(SIGN_OUT_COOKIE) or b""
        self.clear_cookie(USER_COOKIE)
        self.clear_cookie(SIGN_OUT_COOKIE)
        home = self.reverse_url("index")
        provider = user.get("provider") if user else None
        config = self.settings["auth_providers"].get(provider)
        if config is not None and not config.missing():
            return_to = f"{self.request.protocol}://{self.request.host}{home}"
            target = await HANDLERS[provider].logout_url(config, return_to, hint.decode())
            if target:
                self.redirect(target)
                return
        self.redirect(home)


class ProfileHandler(BaseHandler):
    """A page only signed-in users see; others go to the login page and come back."""

    @tornado.web.authenticated
    def get(self) -> None:
        config = self.settings["auth_providers"].get(self.current_user.get("provider"))
        self.render("profile.html", provider=config.label if config else "?")
