"""The sign-in module: log in through tornado.auth with the providers of auth/providers.py.

``config.py`` says what a provider is configured with, ``state.py`` keeps the logins in
progress and guards against replays, ``flow.py`` holds the handler base classes every provider
shares, ``pages.py`` the login, logout and profile pages and the header's sign-in links,
``<provider>.py`` each provider's handler. Below: the module's options (each provider's handler
names its own) and its part in app.py.
"""

import logging
import os
from collections.abc import Callable
from typing import Any

import tornado.web
from tornado.options import define, options

import modules
from auth.config import Provider, ProviderConfig, option_name, variable
from auth.pages import LoginPageHandler, LogoutHandler, ProfileHandler, SignInLinks
from auth.providers import PROVIDERS

# Each option wins over its environment variable; prefer the environment (command lines
# show up in process lists). --<provider>_url points a provider at another host.
for _provider in PROVIDERS:
    for _setting, _help in _provider.handler.options.items():
        _text = _help.format(label=_provider.label)
        _env = variable(_provider.name, _setting)
        define(option_name(_provider.name, _setting), default="", help=f"{_text} (env {_env})")

log = logging.getLogger(__name__)


def configured(provider: str, setting: str) -> str:
    """The setting's option if given, else its environment variable."""
    given = options[option_name(provider, setting)]
    return given or os.environ.get(variable(provider, setting), "")


def provider_config(
    provider: Provider, value: Callable[[str, str], str] = configured
) -> ProviderConfig:
    """A provider's settings: each of its options (``value("github", "client_id")``)."""
    values = {name: value(provider.name, name) for name in provider.handler.options}
    label = values.pop("label", "") or provider.label
    return ProviderConfig(provider.name, label, required=provider.required, **values)


class Auth(modules.Module):
    """Sign-in's part in app.py: pages and settings; it holds nothing open between requests."""

    # The header's log-in link, or the signed-in user and the logout form.
    header = (("SignInLinks", SignInLinks),)

    def check(self) -> None:
        configs = [(provider, provider_config(provider)) for provider in PROVIDERS]
        for provider, config in configs:
            provider.handler.check_config(config)
        # Here, before any worker starts, so that each warning is logged once.
        for provider, config in configs:
            missing = config.missing()
            if missing:
                log.warning(
                    "%s sign-in is off: set %s (see %s)",
                    provider.label,
                    " and ".join(missing),
                    provider.docs,
                )

    def routes(self) -> list[tornado.web.URLSpec]:
        return [
            tornado.web.url(r"/auth/login", LoginPageHandler, name="login"),
            tornado.web.url(r"/auth/logout", LogoutHandler, name="logout"),
            tornado.web.url(r"/profile", ProfileHandler, name="profile"),
        ] + [
            tornado.web.url(
                f"/auth/{p.name}/login", p.handler, {"provider": p.name}, name=f"auth_{p.name}"
            )
            for p in PROVIDERS
        ]

    def settings(self) -> dict[str, Any]:
        return {
            "login_url": "/auth/login",  # where @tornado.web.authenticated sends visitors
            "auth_providers": {p.name: provider_config(p) for p in PROVIDERS},
        }
