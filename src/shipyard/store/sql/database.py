"""What the shared SQL stores need of a database connection, whichever engine it is.

The stores in this package write their SQL once, with ``?`` placeholders, in the
subset SQLite (3.35+) and PostgreSQL both speak: ``RETURNING id`` instead of
``lastrowid``, ``INSERT ... ON CONFLICT`` instead of ``INSERT OR IGNORE/REPLACE``.
What differs between engines sits behind this ``Database`` protocol: the
transaction (each engine's way of serializing writers), error mapping to
``StoreError``, and a few dialect hooks such as ``json_field``.

A unique-constraint violation is the one database error the stores act on (a name
already taken), so every engine raises the same ``Duplicate`` for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Duplicate(Exception):
    """A statement broke a unique constraint (raised by ``Transaction.execute``).

    On PostgreSQL it also aborts the transaction: a store that catches it raises
    its own error and issues no further statement in that transaction.
    """


class Cursor(Protocol):
    """The result of one statement."""

    @property
    def rowcount(self) -> int:
        """How many rows an UPDATE or DELETE changed."""
        ...

    def fetchone(self) -> Any:
        """The next row as a tuple, or ``None``."""
        ...

    def fetchall(self) -> list[Any]:
        """Every remaining row, as tuples."""
        ...


class Transaction(Protocol):
    """The statements of one open write transaction."""

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        """Run one statement (``?`` placeholders); ``Duplicate`` on a unique violation."""
        ...


class Database(Protocol):
    """A metadata database: transactions, reads and the dialect's differences."""

    def tx(self) -> AbstractContextManager[Transaction]:
        """One write transaction, serialized with every other writer of the database.

        It commits when the block ends and rolls back if it raises; database
        failures leave it as ``StoreError``.
        """
        ...

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement and return every row."""
        ...

    def json_field(self, column: str, key: str) -> str:
        """An SQL expression for the text of ``key`` in the JSON object in ``column``."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
