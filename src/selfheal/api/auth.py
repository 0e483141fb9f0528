"""Who may call the REST API: bearer tokens, each held by a name with a role.

``TokenBook.from_config`` reads ``api.tokens`` (resolving ``token_env`` from the
environment when the API starts); the app asks ``TokenBook.authorize`` on every
call but ``/metrics``, ``/healthz`` and ``/readyz``. A role grants permissions:

========  ======  ===================  ==================
role      read    pause, resume        approve, deny
========  ======  ===================  ==================
viewer    yes     —                    —
operator  yes     yes                  —
approver  yes     —                    yes
admin     yes     yes                  yes
========  ======  ===================  ==================

Reads need a token (any role) as soon as one token is configured; with none
configured the API is read-only (the configuration refuses a non-loopback bind
then). State-changing calls always need a token of the right role: 401 without
a valid one, 403 with the wrong role. Tokens are compared in constant time
(``hmac.compare_digest`` over their SHA-256 digests, every token checked), and
never logged or echoed. The caller's name is the actor the audit trail records.
This module decides nothing about the loop; it only says who is asking.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from selfheal.core.config import MIN_TOKEN_CHARS, ApiConfig
from selfheal.core.errors import ConfigError


class Permission(enum.StrEnum):
    READ = "read"
    CONTROL = "control"  # pause, resume
    DECIDE = "decide"  # approve, deny


#: What each role may do. Every role reads.
GRANTS: Mapping[str, frozenset[Permission]] = {
    "viewer": frozenset({Permission.READ}),
    "operator": frozenset({Permission.READ, Permission.CONTROL}),
    "approver": frozenset({Permission.READ, Permission.DECIDE}),
    "admin": frozenset(Permission),
}


def roles_granting(permission: Permission) -> tuple[str, ...]:
    """The roles that hold ``permission``, in the order of ``GRANTS``."""
    return tuple(role for role, granted in GRANTS.items() if permission in granted)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name (the audit trail's actor) and its role."""

    name: str
    role: str


class AuthError(Exception):
    """A refused call: ``status`` is 401 (no valid token) or 403 (the role lacks it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    digest: bytes


class TokenBook:
    """The configured tokens, kept as digests."""

    def __init__(self, tokens: Mapping[str, tuple[str, str]] | None = None) -> None:
        """``tokens``: name → (role, token)."""
        self._entries = tuple(
            _Entry(Principal(name, role), _digest(token))
            for name, (role, token) in (tokens or {}).items()
        )
        for entry in self._entries:
            if entry.principal.role not in GRANTS:
                raise ValueError(f"unknown role {entry.principal.role!r}")

    @classmethod
    def from_config(cls, api: ApiConfig, environ: Mapping[str, str] | None = None) -> TokenBook:
        """The tokens of ``api.tokens``; ``ConfigError`` naming the key when a ``token_env``
        variable is unset or too short, or two entries hold the same token."""
        env = os.environ if environ is None else environ
        tokens: dict[str, tuple[str, str]] = {}
        seen: dict[bytes, str] = {}
        for i, t in enumerate(api.tokens):
            if t.token is not None:
                value = t.token.get_secret_value()
            else:
                key = f"api.tokens.{i}.token_env"
                value = env.get(t.token_env or "", "")
                if not value:
                    raise ConfigError(f"{key}: environment variable {t.token_env} is not set")
                if len(value) < MIN_TOKEN_CHARS:
                    raise ConfigError(
                        f"{key}: the token in {t.token_env} has fewer than "
                        f"{MIN_TOKEN_CHARS} characters"
                    )
            digest = _digest(value)
            if digest in seen:
                raise ConfigError(
                    f"api.tokens.{i}: {t.name!r} holds the same token as {seen[digest]!r}; "
                    "each holder needs a token of their own"
                )
            seen[digest] = t.name
            tokens[t.name] = (t.role, value)
        return cls(tokens)

    @property
    def configured(self) -> bool:
        return bool(self._entries)

    def identify(self, token: str) -> Principal | None:
        """The holder of ``token``, or None. Compares against every token in constant time."""
        presented = _digest(token)
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(presented, entry.digest):
                found = entry.principal
        return found

    def authorize(self, authorization: str | None, permission: Permission) -> Principal | None:
        """The caller allowed ``permission`` from an ``Authorization`` header value;
        ``AuthError`` if refused. None for an anonymous read (no token configured)."""
        if not self._entries:
            if permission is Permission.READ:
                return None
            raise AuthError(
                401,
                "no API tokens are configured (api.tokens): this API is read-only; "
                "configure tokens to pause, resume, approve or deny through it",
            )
        if not authorization:
            raise AuthError(401, "missing bearer token: send Authorization: Bearer TOKEN")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "the Authorization header must be: Bearer TOKEN")
        principal = self.identify(token.strip())
        if principal is None:
            raise AuthError(401, "invalid token")
        if permission not in GRANTS[principal.role]:
            needs = " or ".join(roles_granting(permission))
            raise AuthError(
                403,
                f"token {principal.name!r} has role {principal.role}; this call needs {needs}",
            )
        return principal
