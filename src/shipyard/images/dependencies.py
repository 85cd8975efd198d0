"""Wheels a version's image installs that no package index has, fetched where it builds.

A pin with a local version label (``torch==2.13.0+cpu``, PyTorch's CPU build, which a
Keras version on torch pins too) names a build PyPI does not carry. pip fetches its
wheel here, from wherever this machine's pip is configured to find it (a find-links
directory, PyTorch's CPU index), into ``dependencies/`` in the build context; the
bundle's Dockerfile mounts that directory for its pip install, so the wheel is not
kept in the image. Every context has the directory, empty when nothing is local.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement

from shipyard.errors import ShipyardError

WHEELS = "dependencies"  # the context's directory (images/model_dockerfile.py mounts it)
_TAIL = 10  # pip output lines a failed download repeats


def local_builds(pins: Iterable[str]) -> list[str]:
    """The pins of builds with a local version label (``+cpu``): no package index has them."""
    found = []
    for pin in pins:
        for specifier in Requirement(pin).specifier:
            if specifier.operator == "==" and "+" in specifier.version:
                found.append(pin)
                break
    return found


def fetch_local_wheels(pins: Iterable[str], dest: Path) -> list[str]:
    """Wheels of the local builds among ``pins`` (without their dependencies) into
    ``dest``, by pip as configured on this machine; returns those pins."""
    dest.mkdir(parents=True, exist_ok=True)
    local = local_builds(pins)
    if not local:
        return []
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", str(dest), *local]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).splitlines()[-_TAIL:]
        last = "\n".join(f"  | {line}" for line in lines)
        raise ShipyardError(
            f"the image needs {', '.join(local)}, local builds no package index has, and pip "
            f"could not fetch their wheels here; its last lines:\n{last}",
            hint="tell pip where they come from, e.g. `pip config set global.extra-index-url "
            "https://download.pytorch.org/whl/cpu` for PyTorch's CPU builds, or a directory "
            "holding the wheels in PIP_FIND_LINKS",
        )
    return local
