"""The sign-in module: log in through tornado.auth with the providers of auth/providers.py.

``flow.py`` holds the login flow every provider shares, ``pages.py`` the login, logout and
profile pages, ``<provider>.py`` each provider's handler. Below: the module's options (each
provider's handler names its own) and its part in app.py.
"""

import logging
import os
from collections.abc import Callable
from typing import Any

import tornado.web
from tornado.options import define, options

import modules
from auth.flow import Provider, ProviderConfig
from auth.pages import LoginPageHandler, LogoutHandler, ProfileHandler
from auth.providers import PROVIDERS

# Each option wins over its environment variable; prefer the environment (command lines
# show up in process lists). --<provider>_url points a provider at another host.
for _provider in PROVIDERS:
    for _field, _help in _provider.handler.options.items():
        _key = f"{_provider.name}_{_field}"
        _text = _help.format(label=_provider.label)
        define(_key, default="", help=f"{_text} (env {_key.upper()})")

log = logging.getLogger(__name__)


def configured(key: str) -> str:
    """Option ``key`` if given, else its environment variable (``KEY``)."""
    return options[key] or os.environ.get(key.upper(), "")


def provider_config(provider: Provider, value: Callable[[str], str] = configured) -> ProviderConfig:
    """A provider's settings: each of its options, by name (``value("github_client_id")``)."""
    values = {name: value(f"{provider.name}_{name}") for name in provider.handler.options}
    label = values.pop("label", "") or provider.label
    # What sign-in cannot do without: the provider's variables in the table (<NAME>_<FIELD>).
    prefix = f"{provider.name.upper()}_"
    required = tuple(variable.removeprefix(prefix).lower() for variable in provider.variables)
    return ProviderConfig(provider.name, label, required=required, **values)


class Auth(modules.Module):
    """Sign-in's part in app.py: pages and settings; it holds nothing open between requests."""

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
            "auth_enabled": True,  # the layout shows the log-in link and the logout form
            "login_url": "/auth/login",  # where @tornado.web.authenticated sends visitors
            "auth_providers": {p.name: provider_config(p) for p in PROVIDERS},
        }
