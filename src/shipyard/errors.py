"""Errors a user can act on.

Every error Shipyard raises for a user's mistake or an environment problem is a
``ShipyardError``: the CLI prints its message (and ``hint``) without a traceback
and exits with its ``exit_code``. The codes are documented in the README so
scripts can rely on them.
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Base class: a problem the user can fix; ``hint`` says how."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n  hint: {self.hint}"


class InvalidInputError(ShipyardError):
    """A value given on the command line or over the API is malformed."""

    exit_code = 2


class SpecError(InvalidInputError):
    """``shipyard.yaml`` is missing, unreadable or does not match the schema."""


class NotFoundError(ShipyardError):
    """A model, version, alias or artifact that was asked for does not exist."""

    exit_code = 4


class IntegrityError(ShipyardError):
    """Stored bytes no longer match their recorded sha256 digest."""

    exit_code = 5


class StoreError(ShipyardError):
    """The metadata store cannot be used (corrupt, newer schema, locked)."""

    exit_code = 6


class UntrustedModelError(ShipyardError):
    """Loading a model would execute code or types the user has not trusted."""

    exit_code = 7


class ConflictError(ShipyardError):
    """Someone else changed the same thing first; re-read and try again."""

    exit_code = 8


class RolloutFailed(ShipyardError):
    """A rollout ended without its version serving all traffic (failed or aborted)."""

    exit_code = 9


class RolloutPaused(ShipyardError):
    """A pipeline that waits for its rollout found it paused: an inconclusive analysis
    (too little traffic, say) or a step that waits for ``shipyard promote``."""

    exit_code = 12


class AuthError(ShipyardError):
    """The caller is not allowed: no token, a wrong or revoked one (HTTP 401), or a token
    without the scope the call needs (HTTP 403)."""

    exit_code = 10

    def __init__(self, message: str, *, hint: str | None = None, status: int = 401) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class UnreachableError(ShipyardError):
    """The Shipyard server a command is configured to talk to cannot be reached."""

    exit_code = 11
