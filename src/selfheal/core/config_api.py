"""The ``api`` section of the configuration (``selfheal.core.config``): where the REST
API and dashboard listen and who may call them (``selfheal.api.auth``)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from selfheal.core.config_section import _refuse_twice, _Section

#: Shortest accepted API token: 16 characters (``secrets.token_urlsafe(32)`` gives 43).
MIN_TOKEN_CHARS = 16


class ApiTokenConfig(_Section):
    """One bearer token of the REST API and who holds it (``selfheal.api.auth``)."""

    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.@-]+$",
        description="Who holds the token; the audit trail records it as the actor.",
    )
    role: Literal["viewer", "operator", "approver", "admin"] = Field(
        description="viewer: read; operator: read, pause, resume; approver: read, approve, "
        "deny; admin: everything."
    )
    token: SecretStr | None = Field(
        default=None,
        description="The token itself (at least 16 characters). Prefer token_env.",
    )
    token_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the token, read when the API starts.",
    )

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"a token needs at least {MIN_TOKEN_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ApiTokenConfig:
        if (self.token is None) == (self.token_env is None):
            raise ValueError(f"token {self.name!r} needs exactly one of token or token_env")
        return self


def exposure_problem(host: str, tokens_configured: bool) -> str | None:
    """Why serving the API on ``host`` is refused, or None: a non-loopback bind needs tokens.

    >>> exposure_problem("127.0.0.1", False) is None, exposure_problem("::1", False) is None
    (True, True)
    >>> exposure_problem("0.0.0.0", False).split(":")[0]
    '0.0.0.0 is not a loopback address and no api.tokens are configured'
    """
    if tokens_configured or host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name other than localhost: it may resolve to anything
    return (
        f"{host} is not a loopback address and no api.tokens are configured: anyone who can "
        "reach it could read the loop's state; configure api.tokens or bind 127.0.0.1"
    )


class ApiConfig(_Section):
    enabled: bool = Field(default=True, description="Serve the REST API and dashboard. Default on.")
    host: str = Field(
        default="127.0.0.1",
        description="Bind address. Default loopback only; any other address needs api.tokens.",
    )
    port: int = Field(
        default=8470, ge=0, le=65535, description="TCP port; 0 picks a free one. Default 8470."
    )
    tokens: list[ApiTokenConfig] = Field(
        default_factory=list,
        description="Bearer tokens: `{name, role, token}` or `{name, role, token_env: VAR}` (the token "
        "read from the variable when the API starts); role `viewer`, `operator`, `approver` or "
        "`admin`; at least 16 characters, one per holder. With any, every call but /metrics, "
        "/healthz and /readyz needs one; state-changing calls always need one of the right role. Default "
        "none (read-only API on loopback).",
    )

    @field_validator("tokens")
    @classmethod
    def _distinct(cls, value: list[ApiTokenConfig]) -> list[ApiTokenConfig]:
        _refuse_twice("token names listed twice", [t.name for t in value])
        return value
