"""Pinned requirements: what a bundle needs installed, as ``name==version`` for every package.

A bundle's ``requirements.txt`` must install the same packages the model was trained
and checked with, so the image behaves as this environment did: the pins are the
installed versions of the requested packages *and of everything they depend on*
(dependency markers evaluated for this interpreter), not only the top-level names.
"""

from __future__ import annotations

from importlib import metadata

from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from shipyard.errors import InvalidInputError


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether a dependency is needed here, given the extras its dependent was asked for."""
    if requirement.marker is None:
        return True
    for extra in extras or {""}:
        try:
            if requirement.marker.evaluate({"extra": extra}):
                return True
        except UndefinedEnvironmentName:
            return False
    return False


def _parse(text: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as err:
        raise InvalidInputError(
            f"package.requirements: {text!r} is not a requirement: {err}",
            hint="name a package as pip would, e.g. pyyaml or requests[socks]",
        ) from None


def pin_closure(requirements: list[str]) -> list[str]:
    """``name==version`` for each requirement and its dependencies, sorted by name.

    A requested package that is not installed is an error (its version cannot be
    known); a dependency that is not installed is left for pip to choose.
    """
    pins: dict[str, str] = {}
    asked: dict[str, frozenset[str]] = {}
    pending = [(_parse(text), True) for text in requirements]
    while pending:
        requirement, requested = pending.pop()
        key = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras)
        if key in asked and extras <= asked[key]:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            if not requested:
                continue
            raise InvalidInputError(
                f"package.requirements names {requirement.name!r}, which is not installed here",
                hint="install it in the environment that trains the model, so its version "
                "can be pinned",
            ) from None
        asked[key] = asked.get(key, frozenset()) | extras
        pins[key] = f"{dist.metadata['Name']}=={dist.version}"
        for text in dist.requires or []:
            dependency = Requirement(text)
            if _applies(dependency, asked[key]):
                pending.append((dependency, False))
    return sorted(pins.values(), key=str.lower)
