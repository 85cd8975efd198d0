"""Aliases: mutable, audited pointers from a name to a version.

Every move is recorded and read back by ``alias_history``; ``rollback`` walks the
history back like an undo stack, so rolling back twice after ``1 → 2 → 3`` lands on
1, not on 3 again.
"""

from __future__ import annotations

from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.lineage import current_actor
from shipyard.refs import check_alias_name, check_model_name
from shipyard.store import AliasMove, Stores


def set_alias(
    stores: Stores,
    model: str,
    alias: str,
    version: int,
    *,
    reason: str = "",
    actor: str | None = None,
) -> AliasMove | None:
    """Point ``model@alias`` at ``version``; ``None`` if it already pointed there."""
    check_alias_name(alias)
    return stores.metadata.move_alias(
        model, alias, version, action="set", actor=actor or current_actor(), reason=reason
    )


def delete_alias(
    stores: Stores, model: str, alias: str, *, reason: str = "", actor: str | None = None
) -> AliasMove | None:
    """Remove an alias (its history is kept)."""
    check_alias_name(alias)
    stores.metadata.resolve_alias(model, alias)  # a clear error if it is not set
    return stores.metadata.move_alias(
        model, alias, None, action="delete", actor=actor or current_actor(), reason=reason
    )


def holders(history: list[AliasMove]) -> list[int]:
    """The stack of versions an alias has held, current last, after replaying its history."""
    stack: list[int] = []
    for move in history:
        if move.action == "set" and move.to_version is not None:
            stack.append(move.to_version)
        elif move.action == "rollback" and stack:
            stack.pop()
        elif move.action == "delete":
            stack.clear()
    return stack


def rollback_alias(
    stores: Stores, model: str, alias: str, *, reason: str = "", actor: str | None = None
) -> AliasMove:
    """Move an alias back to the version it held before its current one."""
    check_alias_name(alias)
    current = stores.metadata.resolve_alias(model, alias)
    history = stores.metadata.alias_history(model, alias)
    stack = holders(history)
    if len(stack) < 2:
        raise ShipyardError(
            f"{model}@{alias} has no previous version to roll back to (it holds v{current})",
            hint=f"point it explicitly with `shipyard alias set {model} {alias} VERSION`",
        )
    move = stores.metadata.move_alias(
        model,
        alias,
        stack[-2],
        action="rollback",
        actor=actor or current_actor(),
        reason=reason,
        expect_last_move=history[-1].id,
    )
    if move is None:
        raise ShipyardError(f"{model}@{alias} already points at v{stack[-2]}")
    return move


ACTIONS = ("set", "rollback", "delete")


def move_alias(
    stores: Stores,
    model: str,
    alias: str,
    to_version: int | None,
    *,
    action: str,
    actor: str,
    reason: str = "",
    expect_last_move: int | None = None,
) -> AliasMove | None:
    """One alias move as a client decided it (``set_alias``, ``rollback_alias`` and
    ``delete_alias`` of a command talking to a team server): checked, then recorded with
    its event; ``expect_last_move`` refuses it if the alias moved since it was decided."""
    check_alias_name(alias)
    if action not in ACTIONS or (action == "delete") != (to_version is None):
        raise InvalidInputError(
            f"alias move {action!r} to {to_version!r} is not one Shipyard makes",
            hint="set and rollback name a version; delete names none",
        )
    return stores.metadata.move_alias(
        model,
        alias,
        to_version,
        action=action,
        actor=actor,
        reason=reason,
        expect_last_move=expect_last_move,
    )


def alias_target(stores: Stores, name: str, alias: str) -> int:
    """The version an alias points at; ``NotFoundError`` if unset."""
    return stores.metadata.resolve_alias(check_model_name(name), alias)


def alias_history(stores: Stores, name: str, alias: str | None = None) -> list[AliasMove]:
    """Every move of one alias (or of all of a model's aliases), oldest first."""
    return stores.metadata.alias_history(check_model_name(name), alias)
