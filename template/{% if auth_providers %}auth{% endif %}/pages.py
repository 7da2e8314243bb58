"""The sign-in pages (the login page listing the providers, logout, a profile page) and the
header's sign-in links."""

import tornado.web
from tornado.httputil import url_concat

from auth.flow import SIGN_OUT_COOKIE, AuthBaseHandler, safe_next
from auth.providers import PROVIDERS
from handlers.base import USER_COOKIE, BaseHandler

HANDLERS = {provider.name: provider.handler for provider in PROVIDERS}


class LoginPageHandler(AuthBaseHandler):
    """The login page (the app's ``login_url``): one link per configured provider.

    A provider still missing its settings gets no link (it could only answer 503); when none
    is configured, the page says which environment variables to set.
    """

    def get(self) -> None:
        next_page = safe_next(self.get_argument("next", None))
        params = {"next": next_page} if next_page != "/" else {}
        configs = self.settings["auth_providers"]
        providers = [
            (config.label, url_concat(self.reverse_url(f"auth_{name}"), params))
            for name, config in configs.items()
            if not config.missing()
        ]
        docs = {provider.name: provider.docs for provider in PROVIDERS}
        to_set = [] if providers else [(c.label, c.missing(), docs[n]) for n, c in configs.items()]
        self.render("login.html", providers=providers, to_set=to_set)


class LogoutHandler(BaseHandler):
    """POST only, with the XSRF token: a GET logout could be triggered by any other site.

    Signs out here, then at the provider too when it offers that (OpenID Connect). That
    second step is a page that moves on by itself (meta refresh, and a link), not a redirect:
    the CSP's ``form-action 'self'`` also covers the redirects that answer a form POST, so
    browsers would block a redirect to the provider, and the provider's session would
    survive to sign the next person at this computer back in without a password.
    """

    async def post(self) -> None:
        user = self.current_user
        hint = self.get_signed_cookie(SIGN_OUT_COOKIE) or b""
        self.clear_cookie(USER_COOKIE)
        self.clear_cookie(SIGN_OUT_COOKIE)
        self.current_user = None  # this answer's page already shows the visitor signed out
        home = self.reverse_url("index")
        provider = user.get("provider") if user else None
        config = self.settings["auth_providers"].get(provider)
        if config is not None and not config.missing():
            return_to = f"{self.request.protocol}://{self.request.host}{home}"
            target = await HANDLERS[provider].logout_url(config, return_to, hint.decode())
            if target:
                # The URL carries the ID token as id_token_hint: keep it out of caches.
                self.set_header("Cache-Control", "no-store")
                self.render("signing_out.html", target=target, provider_label=config.label)
                return
        self.redirect(home)


class ProfileHandler(BaseHandler):
    """A page only signed-in users see; others go to the login page and come back."""

    @tornado.web.authenticated
    def get(self) -> None:
        config = self.settings["auth_providers"].get(self.current_user.get("provider"))
        self.render("profile.html", provider=config.label if config else "?")


class SignInLinks(tornado.web.UIModule):
    """The header's part (app.py shows each module's ``header``): a log-in link, or the user's
    name, linking to the profile, and the logout form."""

    def render(self) -> bytes:
        return self.render_string("sign_in_links.html")
