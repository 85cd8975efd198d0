"""The metadata store interface.

Each method is one unit of work: it runs in a single transaction and appends the
matching audit events in that same transaction, so a state change and its event
are never seen apart. SQLite implements it today; a PostgreSQL store can
implement the same methods later without the services noticing.
"""

from __future__ import annotations

from typing import Any, Protocol

from shipyard.store.records import AliasMove, Event, ModelSummary, ModelVersion, VersionDraft


class MetadataStore(Protocol):
    """Models, versions, aliases and events."""

    def add_version(self, model: str, draft: VersionDraft) -> tuple[ModelVersion, bool]:
        """Register ``draft`` as the next version of ``model`` (created if new).

        If the model already has a version with the same content digest, return
        it with ``False`` and change nothing.
        """
        ...

    def list_models(self) -> list[ModelSummary]:
        """Every model, by name."""
        ...

    def get_model(self, model: str) -> ModelSummary:
        """One model; ``NotFoundError`` if unknown."""
        ...

    def find_by_content(self, model: str, content_digest: str) -> ModelVersion | None:
        """The version of ``model`` with this content, if there is one (no error if unknown)."""
        ...

    def get_version(self, model: str, version: int) -> ModelVersion:
        """One version; ``NotFoundError`` if unknown."""
        ...

    def list_versions(
        self, model: str, *, below: int | None = None, limit: int | None = None
    ) -> list[ModelVersion]:
        """Every version of a model, oldest first; ``below`` keeps those numbered lower
        than it, ``limit`` the newest ``limit`` of them (a page of a big model)."""
        ...

    def resolve_alias(self, model: str, alias: str) -> int:
        """The version an alias points at; ``NotFoundError`` if unset."""
        ...

    def move_alias(
        self,
        model: str,
        alias: str,
        to_version: int | None,
        *,
        action: str,
        actor: str,
        reason: str,
        expect_last_move: int | None = None,
    ) -> AliasMove | None:
        """Point ``alias`` at ``to_version`` (``None`` deletes it) and record the move.

        Returns ``None``, recording nothing, when the alias already points there.

        With ``expect_last_move``, the move happens only if that is still the id of
        the alias's newest history entry (optimistic concurrency: a decision made
        from a history read earlier is refused if anyone moved the alias since);
        otherwise ``ConflictError``.
        """
        ...

    def alias_history(self, model: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of one alias (or of all of a model's aliases), oldest first."""
        ...

    def append_event(
        self, kind: str, actor: str, *, model: str | None, version: int | None, data: dict[str, Any]
    ) -> Event:
        """Append an audit event on its own."""
        ...

    def list_events(
        self,
        *,
        model: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
        kind_prefix: str | None = None,
        kind: str | None = None,
        deployment: str | None = None,
        before_id: int | None = None,
        actor: str | None = None,
    ) -> list[Event]:
        """Events oldest first; ``limit`` keeps the newest ``limit`` of them;
        ``kind_prefix`` keeps kinds that start with it (``alert.``), ``kind`` one kind,
        ``deployment`` the events about that deployment, ``before_id`` those older than
        that event (a page further back), ``actor`` those one identity caused."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
