"""Bundles: a trained model made deployable — manifest, model files, code, requirements, and
the Dockerfile ``images/model_dockerfile.py`` writes.

A bundle is a directory that the artifact store keeps file by file (so it is
content-addressed like everything else). ``manifest.json`` names the flavor,
entrypoint, signature, Python version and every file's digest; the Dockerfile
builds a non-root image with dependencies, code and model in separate layers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from shipyard import jsonio
from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.flavors import TrustPolicy
from shipyard.images.model_dockerfile import model_dockerfile
from shipyard.lineage import pinned_requirements, platform_tag, python_version
from shipyard.pins import pin_closure
from shipyard.project import Project, register_options
from shipyard.registry import choose_flavor, model_content
from shipyard.registry.signatures import inferred_signature
from shipyard.store.artifacts import file_digest

# What each flavor needs installed to serve (pinned, with their dependencies, to the versions
# training used); Shipyard's own serving dependencies come with `shipyard[serve]`.
FLAVOR_PACKAGES = {
    "sklearn": ["scikit-learn", "skops", "numpy", "scipy"],
    "onnx": ["onnxruntime", "numpy"],
    "pytorch": ["torch", "numpy"],
    "keras": ["keras", "numpy"],
    "custom": [],
}


def _copy(files: list[tuple[str, Path]], dest: Path) -> dict[str, str]:
    digests = {}
    for rel, path in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        digests[rel] = file_digest(target).digest
    return digests


def _code_files(project: Project, bundle: Path) -> list[tuple[str, Path]]:
    files: dict[str, Path] = {}
    for pattern in project.spec.package.code:
        matches = sorted(project.root.glob(pattern))
        if not matches:
            raise InvalidInputError(
                f"package.code pattern {pattern!r} matches no file in {project.root}"
            )
        for match in matches:
            for path in [match] if match.is_file() else sorted(match.rglob("*")):
                if (
                    path.is_file()
                    and bundle not in path.parents
                    and "__pycache__" not in path.parts
                ):
                    files[path.relative_to(project.root).as_posix()] = path
    return sorted(files.items())


def build_bundle(
    project: Project, dest: Path, *, commit: str | None, home: Path | None = None
) -> dict[str, Any]:
    """Write the bundle for the project's trained model into ``dest``; return its manifest.
    With a ``home``, the model's signature comes from (or goes to) its kept signatures."""
    name, source, options = register_options(project)
    if not source.exists():
        raise ShipyardError(f"no trained model at {source} to package")
    flavor, entrypoint = choose_flavor(source, options)
    root = source if source.is_dir() else source.parent
    model_files = (
        [
            (p.relative_to(root).as_posix(), p)
            for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        ]
        if source.is_dir()
        else [(source.name, source)]
    )
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    model = _copy(model_files, dest / "model")
    code = _copy(_code_files(project, dest), dest / "code")
    (dest / "code").mkdir(exist_ok=True)
    packages, environment = flavor_packages(flavor)
    requirements = pin_closure(["shipyard[serve]", *packages, *project.spec.package.requirements])
    (dest / "requirements.txt").write_text("".join(f"{pin}\n" for pin in requirements))
    try:
        trust = TrustPolicy(options.trust.types)
        _, digest = model_content(source, flavor, entrypoint)
        signature = inferred_signature(home, digest, root, flavor, entrypoint, trust)
    except Exception as err:  # a model library failing on its own file: no signature, no failure
        print(f"package: signature not recorded: {err}")
        signature = None
    model_digest = file_digest(dest / "model" / entrypoint).digest if flavor != "custom" else None
    manifest: dict[str, Any] = {
        "format": "shipyard.bundle/1",
        "name": name,
        "flavor": flavor,
        "entrypoint": entrypoint,
        "signature": jsonio.to_data(signature),
        "python": python_version(),
        "platform": platform_tag(),
        "requirements": requirements,
        "environment_digest": f"sha256:{_sha256(pinned_requirements())}",
        "git_commit": commit,
        "files": {
            **{f"model/{k}": v for k, v in model.items()},
            **{f"code/{k}": v for k, v in code.items()},
        },
    }
    (dest / "Dockerfile").write_text(
        model_dockerfile(
            name,
            flavor,
            base_image=project.spec.package.base_image,
            commit=commit or "",
            model_digest=model_digest or "",
            environment=environment,
        )
    )
    manifest["files"]["Dockerfile"] = file_digest(dest / "Dockerfile").digest
    manifest["files"]["requirements.txt"] = file_digest(dest / "requirements.txt").digest
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def flavor_packages(flavor: str) -> tuple[list[str], dict[str, str]]:
    """What a flavor's image installs, and the environment it serves in: a Keras version
    gets the backend it runs on here, pinned, and ``KERAS_BACKEND`` naming it."""
    if flavor != "keras":
        return FLAVOR_PACKAGES[flavor], {}
    from shipyard.flavors.keras import backend_distributions

    backend, distributions = backend_distributions()
    return [*FLAVOR_PACKAGES[flavor], *distributions], {"KERAS_BACKEND": backend}


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()
