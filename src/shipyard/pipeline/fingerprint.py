"""Stage fingerprints: the hash of everything a stage's result depends on.

A stage is skipped when its fingerprint is unchanged: the same definition
(command, outputs, options), the same params, the same bytes in every
dependency file, the same outputs from the stages upstream, and the same Python
environment (interpreter version and pinned packages).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from shipyard.errors import SpecError
from shipyard.pipeline.plan import StagePlan
from shipyard.store.artifacts import file_digest

_GLOB = set("*?[")
_SKIP = {".git", ".shipyard", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache"}


def files_under(directory: Path) -> list[Path]:
    """Files below a directory, without VCS, cache and virtualenv litter."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and not _SKIP.intersection(p.relative_to(directory).parts)
    )


def dependency_files(root: Path, stage: StagePlan) -> list[Path]:
    """Every file a stage's ``deps`` name; a plain path that does not exist is an error."""
    files: set[Path] = set()
    for pattern in stage.deps:
        if _GLOB.intersection(pattern):
            matches = [p for p in root.glob(pattern) if not _SKIP.intersection(p.parts)]
            for match in matches:
                files.update(files_under(match) if match.is_dir() else [match])
            continue
        path = root / pattern
        if path.is_dir():
            files.update(files_under(path))
        elif path.is_file():
            files.add(path)
        else:
            raise SpecError(
                f"stage {stage.name!r} depends on {pattern}, which does not exist in {root}",
                hint="create the file, fix the path in shipyard.yaml, or add the stage that "
                "writes it (with the path in its `outs`)",
            )
    return sorted(files)


def dependency_digests(root: Path, stage: StagePlan) -> dict[str, str]:
    """``{relative path: sha256}`` of a stage's dependency files."""
    return {
        p.relative_to(root).as_posix(): file_digest(p).digest for p in dependency_files(root, stage)
    }


def fingerprint(
    stage: StagePlan,
    *,
    params: dict[str, Any],
    deps: dict[str, str],
    upstream: dict[str, dict[str, str]],
    environment: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> str:
    """The stage's fingerprint as ``sha256:<hex>``."""
    document = {
        "stage": {
            "name": stage.name,
            "kind": stage.kind,
            "command": stage.command,
            "function": stage.function,
            "outs": list(stage.outs),
            "config": stage.config,
        },
        "params": params,
        "deps": deps,
        "upstream": upstream,
        "environment": environment,
        "extra": extra or {},
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return f"sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"
