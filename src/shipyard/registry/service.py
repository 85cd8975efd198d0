"""The model registry service: register immutable versions with lineage, look them up.

The CLI and the REST API both call these functions; they hold the rules, the
stores hold the data. ``register`` is the client half (hash the files, store
them, build the draft); ``add_version`` is the half a team server runs too: it
checks a draft, and that every blob it names is stored, before numbering it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from math import isfinite
from pathlib import Path
from typing import Any

from shipyard import jsonio
from shipyard.errors import InvalidInputError, NotFoundError, ShipyardError
from shipyard.flavors import TrustPolicy, detect_flavor, get_flavor
from shipyard.flavors.custom import parse_entrypoint
from shipyard.git import git_state
from shipyard.lineage import (
    current_actor,
    pinned_requirements,
    platform_tag,
    python_version,
)
from shipyard.refs import ModelRef, check_model_name
from shipyard.registry.signatures import inferred_signature
from shipyard.signature import Signature
from shipyard.store import (
    ArtifactRef,
    Event,
    Lineage,
    ModelSummary,
    ModelVersion,
    Stores,
    VersionDraft,
)
from shipyard.store.artifacts import Blob, file_digest
from shipyard.tags import REFERENCE_TAG

# Never part of a model: editor and VCS litter that would change the digest for nothing.
_IGNORED = {"__pycache__", ".git", ".DS_Store", ".ipynb_checkpoints", ".shipyard"}


@dataclass(frozen=True, slots=True)
class Registration:
    """What ``register`` did: the version, whether it is new, and anything worth a warning."""

    version: ModelVersion
    created: bool
    warnings: tuple[str, ...] = ()


@dataclass(slots=True)
class RegisterOptions:
    """Everything about a registration besides the files."""

    flavor: str | None = None
    entrypoint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    signature: Signature | None = None
    infer_signature: bool = True
    trust: TrustPolicy = field(default_factory=TrustPolicy)
    project_dir: Path | None = None
    data_digests: dict[str, str] = field(default_factory=dict)
    actor: str | None = None
    reference: dict[str, Any] | None = None  # the inputs' summary (monitor.reference)


def _model_files(source: Path) -> tuple[Path, list[tuple[str, Path]]]:
    """The root the entrypoint is relative to, and each file with its path under it."""
    if source.is_file():
        return source.parent, [(source.name, source)]
    if not source.is_dir():
        raise NotFoundError(
            f"no such file or directory: {source}",
            hint="pass the model file or directory that training wrote (e.g. model.skops)",
        )
    files = [
        (p.relative_to(source).as_posix(), p)
        for p in sorted(source.rglob("*"))
        if p.is_file() and not _IGNORED.intersection(p.relative_to(source).parts)
    ]
    if not files:
        raise InvalidInputError(f"{source} holds no files to register")
    for rel, _ in files:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError(
                f"file name {rel!r} in {source} is not valid UTF-8",
                hint="rename the file: stored paths must be UTF-8",
            ) from None
    return source, files


def _check_entrypoint(flavor: str, entrypoint: str, files: list[tuple[str, Path]]) -> None:
    """The entrypoint must name one of the files being registered, nothing outside them."""
    names = sorted(rel for rel, _ in files)
    wanted = entrypoint
    if flavor == "custom":
        module, _ = parse_entrypoint(entrypoint)
        wanted = module.replace(".", "/") + ".py"
    if wanted not in names:
        shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
        raise InvalidInputError(
            f"entrypoint {entrypoint!r}: {wanted} is not one of the files being registered",
            hint=f"the files are: {shown}",
        )


def _check_values(options: RegisterOptions) -> None:
    """Metrics are finite numbers; params and tags must be storable as JSON."""
    for key, value in options.metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not isfinite(value):
            raise InvalidInputError(
                f"metric {key}={value!r}: a metric must be a finite number",
                hint="NaN and infinity cannot be compared by gates or dashboards; fix the "
                "evaluation or leave the metric out",
            )
    for what, values in (("params", options.params), ("tags", options.tags)):
        try:
            jsonio.dumps(values)
        except TypeError as err:  # orjson.JSONEncodeError: e.g. an integer beyond 64 bits
            raise InvalidInputError(f"{what} cannot be stored: {err}") from None


def content_digest(flavor: str, entrypoint: str, artifacts: list[ArtifactRef]) -> str:
    """The identity of a version's content: flavor, entrypoint and every file's digest."""
    canonical = json.dumps(
        {
            "flavor": flavor,
            "entrypoint": entrypoint,
            "files": [[a.path, a.digest] for a in artifacts],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return f"sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"


def model_content(source: Path, flavor: str, entrypoint: str) -> tuple[Path, str]:
    """The root a model's entrypoint is relative to, and the content digest ``register``
    gives its files (``source`` a model file or directory)."""
    root, files = _model_files(source)
    return root, content_digest(flavor, entrypoint, _digested(files)[1])


def _digested(files: list[tuple[str, Path]]) -> tuple[list[Blob], list[ArtifactRef]]:
    """Each file's digest and size, and the artifact entry a version lists for it."""
    blobs = [file_digest(path) for _, path in files]
    return blobs, [
        ArtifactRef(rel, b.digest, b.size) for (rel, _), b in zip(files, blobs, strict=True)
    ]


def choose_flavor(source: Path, options: RegisterOptions) -> tuple[str, str]:
    """The flavor and entrypoint of a model: as given, else detected from its files."""
    if options.flavor is None:
        flavor, detected = detect_flavor(source)
        return flavor, options.entrypoint or detected
    entrypoint = options.entrypoint or get_flavor(options.flavor).detect(source)
    if entrypoint is None:
        raise InvalidInputError(
            f"{source} is not a {options.flavor} model that Shipyard can recognise",
            hint="pass --entrypoint (the main file, or module:Class for a custom model)",
        )
    return options.flavor, entrypoint


def register(stores: Stores, source: Path, name: str, options: RegisterOptions) -> Registration:
    """Store a model's files and record them as the next immutable version of ``name``.

    Files are written to the artifact store before the version row exists, so a
    version never points at missing bytes. Registering content the model already
    holds returns that version instead of making a new one.
    """
    check_model_name(name)
    root, files = _model_files(source)
    flavor_name, entrypoint = choose_flavor(source, options)
    _check_entrypoint(flavor_name, entrypoint, files)
    _check_values(options)
    # Known content returns its version before any costly step (signature inference
    # imports the model's library); storing the files again repairs a damaged blob.
    blobs, artifacts = _digested(files)
    digest = content_digest(flavor_name, entrypoint, artifacts)
    existing = stores.metadata.find_by_content(name, digest)
    if existing is not None:
        for (_, path), blob in zip(files, blobs, strict=True):
            stores.artifacts.put_file(path, blob)
        kept = (
            ("the version keeps the reference summary it was registered with",)
            if options.reference is not None
            else ()
        )
        return Registration(existing, created=False, warnings=kept)
    warnings: list[str] = []
    signature = options.signature
    if signature is None and options.infer_signature:
        try:
            signature = inferred_signature(
                stores.home, digest, root, flavor_name, entrypoint, options.trust
            )
        except ShipyardError as err:
            warnings.append(f"input/output signature not recorded: {err.message}")
        except Exception as err:  # a model library failing on a file it cannot read
            warnings.append(f"input/output signature not recorded: {type(err).__name__}: {err}")
    for (_, path), blob in zip(files, blobs, strict=True):
        stores.artifacts.put_file(path, blob)
    tags = dict(options.tags)
    if options.reference is not None:
        tags[REFERENCE_TAG] = _store_reference(stores, options.reference, signature)
    requirements = stores.artifacts.put_bytes(pinned_requirements().encode())
    git = git_state(options.project_dir or root)
    lineage = Lineage(
        git_commit=git.commit if git else None,
        git_branch=git.branch if git else None,
        git_dirty=git.dirty if git else None,
        source=str(source.resolve()),
        python=python_version(),
        platform=platform_tag(),
        requirements_digest=requirements.digest,
        data_digests=dict(options.data_digests),
    )
    draft = VersionDraft(
        flavor=flavor_name,
        entrypoint=entrypoint,
        content_digest=digest,
        artifacts=tuple(artifacts),
        lineage=lineage,
        created_by=options.actor or current_actor(),
        params=dict(options.params),
        metrics=dict(options.metrics),
        tags=tags,
        signature=signature,
        description=options.description,
    )
    version, created = add_version(stores, name, draft)
    return Registration(version, created, tuple(warnings))


def add_version(stores: Stores, name: str, draft: VersionDraft) -> tuple[ModelVersion, bool]:
    """Number a draft as the next version of ``name`` (or return the version that already
    has its content), once its values are valid and every blob it names is stored."""
    check_model_name(name)
    _check_values(RegisterOptions(params=draft.params, metrics=draft.metrics, tags=draft.tags))
    named = [a.digest for a in draft.artifacts]
    if draft.lineage.requirements_digest:
        named.append(draft.lineage.requirements_digest)
    if REFERENCE_TAG in draft.tags:
        named.append(draft.tags[REFERENCE_TAG])
    missing = [d for d in dict.fromkeys(named) if not stores.artifacts.exists(d)]
    if missing:
        raise InvalidInputError(
            f"{name}: {len(missing)} blob(s) of the new version are not stored "
            f"(first: {missing[0]})",
            hint="upload every artifact before registering the version",
        )
    return stores.metadata.add_version(name, draft)


def models(stores: Stores) -> list[ModelSummary]:
    """Every model, by name, with its latest version and aliases."""
    return stores.metadata.list_models()


def model(stores: Stores, name: str) -> ModelSummary:
    """One model; ``NotFoundError`` if unknown."""
    return stores.metadata.get_model(check_model_name(name))


def versions(
    stores: Stores, name: str, *, below: int | None = None, limit: int | None = None
) -> list[ModelVersion]:
    """Every version of a model, oldest first (``below``, ``limit``: one page of them, the
    newest ``limit`` numbered under ``below``)."""
    return stores.metadata.list_versions(check_model_name(name), below=below, limit=limit)


def version(stores: Stores, name: str, number: int) -> ModelVersion:
    """One version; ``NotFoundError`` (with the versions that exist) if unknown."""
    return stores.metadata.get_version(check_model_name(name), number)


def find_version(stores: Stores, name: str, digest: str) -> ModelVersion | None:
    """The version of ``name`` with this content digest, if there is one."""
    return stores.metadata.find_by_content(check_model_name(name), digest)


def events(
    stores: Stores,
    *,
    model: str | None = None,
    after_id: int = 0,
    limit: int | None = None,
    kind: str | None = None,
    kind_prefix: str | None = None,
    deployment: str | None = None,
    before_id: int | None = None,
    actor: str | None = None,
) -> list[Event]:
    """The audit log, oldest first (``limit`` keeps the newest), filtered."""
    return stores.metadata.list_events(
        model=model,
        after_id=after_id,
        limit=limit,
        kind=kind,
        kind_prefix=kind_prefix,
        deployment=deployment,
        before_id=before_id,
        actor=actor,
    )


def _store_reference(stores: Stores, summary: dict[str, Any], signature: Signature | None) -> str:
    """Store a reference summary as a blob; its digest goes in the version's tags.

    Not part of the content digest: the digest is the identity of what runs (the
    files), and the same model judged on other data is the same model — like its
    metrics and params, the summary describes the version without defining it.
    The blob is digest-addressed all the same, so the server reads it verified.
    """
    from shipyard.reference_summary import check, renamed

    named = renamed(check(summary, "reference summary"), signature)
    return stores.artifacts.put_bytes(jsonio.dumps(named)).digest


def reference_of(stores: Stores, version: ModelVersion) -> dict[str, Any] | None:
    """The reference summary registered with a version (digest-verified), if any."""
    digest = version.tags.get(REFERENCE_TAG)
    if digest is None:
        return None
    return dict(json.loads(stores.artifacts.read_bytes(digest)))


def resolve(stores: Stores, ref: ModelRef) -> ModelVersion:
    """The version a reference names: a number, an alias's holder, or the latest."""
    if ref.version is not None:
        return stores.metadata.get_version(ref.model, ref.version)
    if ref.alias is not None:
        return stores.metadata.get_version(
            ref.model, stores.metadata.resolve_alias(ref.model, ref.alias)
        )
    latest = stores.metadata.get_model(ref.model).latest_version
    if latest is None:
        raise NotFoundError(f"model {ref.model!r} has no versions yet")
    return stores.metadata.get_version(ref.model, latest)


def requirements_of(stores: Stores, version: ModelVersion) -> str:
    """The pinned package list recorded with a version (digest-verified)."""
    digest = version.lineage.requirements_digest
    if digest is None:
        return ""
    return stores.artifacts.read_bytes(digest).decode()
