"""Model references as users type them: ``digits``, ``digits:3``, ``digits@production``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.errors import InvalidInputError

MAX_VERSION = 2**63 - 1  # what the metadata store's integers hold
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$")
_ALIAS = re.compile(r"^[a-z](?:[a-z0-9_-]{0,61}[a-z0-9])?$")


def check_model_name(name: str) -> str:
    """Return ``name`` if it can name a model (it will also name URLs and Kubernetes objects)."""
    if not _NAME.match(name):
        raise InvalidInputError(
            f"invalid model name {name!r}",
            hint="use 1-63 lowercase letters, digits, '-', '_' or '.', starting and ending "
            "with a letter or digit (e.g. 'digits' or 'fraud-detector')",
        )
    return name


def check_alias_name(alias: str) -> str:
    """Return ``alias`` if it can name an alias (never a bare number, so never a version)."""
    if not _ALIAS.match(alias):
        raise InvalidInputError(
            f"invalid alias {alias!r}",
            hint="use lowercase letters, digits, '-' or '_', starting with a letter "
            "(e.g. 'production', 'staging', 'candidate')",
        )
    return alias


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model name with at most one of a version number or an alias (neither = latest)."""

    model: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.model}:{self.version}"
        if self.alias is not None:
            return f"{self.model}@{self.alias}"
        return self.model


def parse_ref(text: str) -> ModelRef:
    """Parse ``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS``."""
    if "@" in text:
        model, alias = text.split("@", 1)
        return ModelRef(check_model_name(model), alias=check_alias_name(alias))
    if ":" in text:
        model, version = text.split(":", 1)
        return ModelRef(check_model_name(model), version=parse_version(version))
    return ModelRef(check_model_name(text))


def parse_version(text: str) -> int:
    """A version number as typed: ``3`` or ``v3``."""
    digits = text.removeprefix("v")
    if not _digits(digits) or not 1 <= int(digits) <= MAX_VERSION:
        raise InvalidInputError(
            f"invalid version {text[:40]!r}", hint="versions are whole numbers from 1, e.g. 3 or v3"
        )
    return int(digits)


def whole_number(text: str, what: str, high: int = MAX_VERSION) -> int:
    """``text`` as a whole number from 1 to ``high`` (ASCII digits only), or a clear
    ``InvalidInputError`` naming ``what``."""
    text = text.strip()
    if not _digits(text) or not 1 <= int(text) <= high:
        raise InvalidInputError(f"{what} {text[:40]!r} is not a whole number from 1 to {high}")
    return int(text)


def _digits(text: str) -> bool:
    """ASCII digits only, and few enough for ``int`` (whose limit is 4,300) to be cheap."""
    return text.isascii() and text.isdigit() and len(text) <= 19
