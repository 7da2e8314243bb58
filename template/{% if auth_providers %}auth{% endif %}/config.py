"""Provider configuration: a row of the provider table, and one provider's settings.

Setting ``<name>`` of provider ``<provider>`` is the option ``--<provider>_<name>`` and the
environment variable ``<PROVIDER>_<NAME>``; `option_name` and `variable` are the only places
that say so.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the handlers import this module
    from auth.flow import ProviderLoginHandler


def option_name(provider: str, setting: str) -> str:
    return f"{provider}_{setting}"


def variable(provider: str, setting: str) -> str:
    return option_name(provider, setting).upper()


@dataclass(frozen=True)
class Provider:
    """A row of the provider table (auth/providers.py)."""

    name: str  # in URLs (/auth/<name>/login), option and variable names
    label: str  # shown to users
    handler: type["ProviderLoginHandler"]
    required: tuple[str, ...]  # the handler's options sign-in cannot do without
    docs: str  # how to register the app with the provider


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
    signup: str = ""  # Password: "off" turns sign-up off; empty means on
    required: tuple[str, ...] = ("client_id", "client_secret")  # fields sign-in cannot do without

    def missing(self) -> list[str]:
        """Names of the environment variables still to set; empty when sign-in can work."""
        return [variable(self.provider, name) for name in self.required if not getattr(self, name)]
