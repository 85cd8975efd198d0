"""Who may do what: named tokens with scopes, and checking a request's token.

Scopes: ``read`` (look at anything), ``register`` (runs, versions, aliases),
``deploy`` (deployments, traffic, rollback, monitors) and ``admin`` (tokens). Every
token may read; ``admin`` may do everything. The server's own token (the one in
``$SHIPYARD_HOME/run/server.json`` or ``$SHIPYARD_SERVER_TOKEN``) is an admin token
whose actor is whoever the client says it is, as in the one-machine mode; a named
token's actor is always its name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from shipyard.clock import utc_now
from shipyard.errors import AuthError, InvalidInputError
from shipyard.store import Stores, TokenRecord
from shipyard.store.tokens import TokenStore

SCOPES = ("read", "register", "deploy", "admin")
PREFIX = "shp_"
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._@-]{0,62}[A-Za-z0-9])?$")
_TOKEN = re.compile(r"^shp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_TOUCH_EVERY_S = 60.0  # last-used time is written at most once a minute per token


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller of a request: a name (the events' actor) and what it may do."""

    name: str
    scopes: frozenset[str]
    token_id: str | None = None  # None: the server's own token

    def allows(self, scope: str) -> bool:
        """Whether this identity may make a call that needs ``scope``."""
        return "admin" in self.scopes or scope == "read" or scope in self.scopes

    def require(self, scope: str) -> None:
        """Refuse (HTTP 403) a call that needs a scope this identity lacks."""
        if not self.allows(scope):
            held = ", ".join(sorted(self.scopes)) or "none"
            raise AuthError(
                f"token {self.name!r} lacks the {scope!r} scope this call needs (it has: {held})",
                hint=f"ask an admin for a token with --scope {scope}",
                status=403,
            )


def parse_scopes(text: str) -> tuple[str, ...]:
    """``"register,deploy"`` → ``("register", "deploy")``, refusing unknown scopes."""
    scopes = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidInputError(
            f"unknown scope {unknown[0]!r}" if unknown else "no scope given",
            hint=f"scopes are {', '.join(SCOPES)}, comma-separated (e.g. --scope register,deploy)",
        )
    return scopes


def check_token_name(name: str) -> str:
    """A token's name becomes the actor of its events: keep it short and printable."""
    if not _NAME.match(name):
        raise InvalidInputError(
            f"invalid token name {name!r}",
            hint="use 1-64 letters, digits, '.', '_', '@' or '-' (e.g. 'jenkins' or 'alice')",
        )
    return name


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def create_token(
    stores: Stores, name: str, scopes: tuple[str, ...], actor: str
) -> tuple[TokenRecord, str]:
    """Make a named token; returns its record and the token itself (shown only now)."""
    check_token_name(name)
    token_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
    record = TokenRecord(
        id=token_id,
        name=name,
        scopes=scopes,
        salt=salt,
        hash=_digest(salt, secret),
        created_at=utc_now(),
        created_by=actor,
    )
    stores.tokens.create_token(record, actor)
    return record, f"{PREFIX}{token_id}_{secret}"


def revoke_token(stores: Stores, name: str, actor: str) -> TokenRecord:
    """Revoke a named token: the next call made with it is refused."""
    return stores.tokens.revoke_token(check_token_name(name), actor)


def shown_token(record: TokenRecord) -> dict[str, Any]:
    """A token as it is listed: never its hash or salt."""
    return {
        "id": record.id,
        "name": record.name,
        "scopes": list(record.scopes),
        "created_at": record.created_at,
        "created_by": record.created_by,
        "last_used_at": record.last_used_at,
        "revoked_at": record.revoked_at,
    }


def list_tokens(stores: Stores) -> list[TokenRecord]:
    """Every token, revoked ones too (their hashes never leave the server)."""
    return stores.tokens.list_tokens()


class Authenticator:
    """Checks the ``Authorization: Bearer`` header of each request."""

    def __init__(self, tokens: TokenStore, server_token: str) -> None:
        self._tokens = tokens
        self._server = f"Bearer {server_token}".encode()
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def identify(self, authorization: str, claimed_actor: str | None) -> Identity:
        """The identity behind a header; ``AuthError`` (401) for a missing, wrong or
        revoked token. Runs off the event loop: a named token costs one indexed read."""
        given = authorization.encode()
        if hmac.compare_digest(given, self._server):
            return Identity(claimed_actor or "api", frozenset({"admin"}))
        found = _TOKEN.match(authorization.removeprefix("Bearer ").strip())
        record = self._tokens.get_token(found.group(1)) if found else None
        if (
            found is None
            or record is None
            or not hmac.compare_digest(record.hash, _digest(record.salt, found.group(2)))
        ):
            raise AuthError(
                "missing or wrong token (Authorization: Bearer …)",
                hint="set SHIPYARD_TOKEN to a token made by `shipyard tokens create`; on the "
                "server's own host the token is in $SHIPYARD_HOME/run/server.json",
            )
        if record.revoked_at is not None:
            raise AuthError(
                f"token {record.name!r} was revoked at {record.revoked_at}",
                hint="ask an admin for a new token (`shipyard tokens create`)",
            )
        self._touch(record.id)
        return Identity(record.name, frozenset(record.scopes), record.id)

    def _touch(self, token_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(token_id, -_TOUCH_EVERY_S) < _TOUCH_EVERY_S:
                return
            self._touched[token_id] = now
        self._tokens.touch_token(token_id, utc_now())
