"""Named API tokens: records and the store interface that keeps them.

A token is ``shp_<id>_<secret>``. Only the id (to find the row) and a salted
SHA-256 of the secret are stored; the secret is shown once, when it is made. The
secrets are 256 random bits, so a fast hash is as safe as a slow one and keeps
every request's check under a microsecond.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One named token: who it is, what it may do, and its hashed secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    salt: str  # hex
    hash: str  # hex sha256(salt + secret)
    created_at: str
    created_by: str
    last_used_at: str | None = None
    revoked_at: str | None = None


class TokenStore(Protocol):
    """Tokens; creating and revoking one each append an event in the same transaction."""

    def create_token(self, token: TokenRecord, actor: str) -> None:
        """Add a token (``ConflictError`` if an unrevoked token has the same name)."""
        ...

    def get_token(self, token_id: str) -> TokenRecord | None:
        """A token by id, revoked or not; ``None`` if there is none."""
        ...

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones too, oldest first."""
        ...

    def revoke_token(self, name: str, actor: str) -> TokenRecord:
        """Revoke the unrevoked token called ``name`` (``NotFoundError`` if none)."""
        ...

    def touch_token(self, token_id: str, at: str) -> None:
        """Record when a token was last used (no event: it is not a change of state)."""
        ...
