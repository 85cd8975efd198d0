"""The token store in SQL, over any ``Database``."""

from __future__ import annotations

from typing import Any

from shipyard.clock import utc_now
from shipyard.errors import ConflictError, NotFoundError
from shipyard.store.sql.database import Database, Duplicate
from shipyard.store.sql.events import insert_event
from shipyard.store.tokens import TokenRecord

_COLUMNS = "id, name, scopes, salt, hash, created_at, created_by, last_used_at, revoked_at"


def _token(row: tuple[Any, ...]) -> TokenRecord:
    values = list(row)
    values[2] = tuple(values[2].split(",")) if values[2] else ()
    return TokenRecord(*values)


class SqlTokenStore:
    """Tokens in the metadata database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create_token(self, token: TokenRecord, actor: str) -> None:
        """See ``TokenStore.create_token``."""
        with self._db.tx() as c:
            try:
                c.execute(
                    f"INSERT INTO tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        token.id,
                        token.name,
                        ",".join(token.scopes),
                        token.salt,
                        token.hash,
                        token.created_at,
                        token.created_by,
                        token.last_used_at,
                        token.revoked_at,
                    ),
                )
            except Duplicate:
                raise ConflictError(
                    f"a token named {token.name!r} already exists",
                    hint=f"revoke it first (`shipyard tokens revoke {token.name}`) or pick "
                    "another name",
                ) from None
            data = {"token": token.name, "id": token.id, "scopes": list(token.scopes)}
            insert_event(c, "token.created", actor, None, None, data, token.created_at)

    def get_token(self, token_id: str) -> TokenRecord | None:
        """See ``TokenStore.get_token``."""
        rows = self._db.query(f"SELECT {_COLUMNS} FROM tokens WHERE id = ?", (token_id,))
        return _token(rows[0]) if rows else None

    def list_tokens(self) -> list[TokenRecord]:
        """See ``TokenStore.list_tokens``."""
        return [
            _token(row)
            for row in self._db.query(f"SELECT {_COLUMNS} FROM tokens ORDER BY created_at, id")
        ]

    def revoke_token(self, name: str, actor: str) -> TokenRecord:
        """See ``TokenStore.revoke_token``."""
        now = utc_now()
        with self._db.tx() as c:
            row = c.execute(
                f"SELECT {_COLUMNS} FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"no unrevoked token named {name!r}",
                    hint="`shipyard tokens list` shows the tokens",
                )
            c.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?", (now, row[0]))
            insert_event(c, "token.revoked", actor, None, None, {"token": name, "id": row[0]}, now)
        return _token((*row[:8], now))

    def touch_token(self, token_id: str, at: str) -> None:
        """See ``TokenStore.touch_token``."""
        with self._db.tx() as c:
            c.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (at, token_id))
