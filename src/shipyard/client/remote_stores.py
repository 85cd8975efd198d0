"""The stores of a team server, seen from a laptop or a CI agent.

They implement the store interfaces over the control plane's REST API, so the
registry, the pipeline and checkouts run unchanged on an agent while every
record and blob lives on the server, and the server's handlers apply the same
service functions (and record the token's name as the actor). Blobs are asked
for by digest before they are sent, streamed both ways, and verified by the
server on upload and by this side on download.

Deployments, alerts and tokens are the server's own business: the commands
that touch them already call its REST API, so those stores refuse here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

from pydantic import TypeAdapter

from shipyard import jsonio
from shipyard.client.rest import RemoteError, ServerClient
from shipyard.errors import IntegrityError, NotFoundError, ShipyardError
from shipyard.store import (
    AlertStore,
    AliasMove,
    Blob,
    CacheEntry,
    DeployStore,
    Event,
    ModelSummary,
    ModelVersion,
    Run,
    StageRun,
    Stores,
    TokenStore,
    VersionDraft,
)
from shipyard.store.artifacts import atomic_write, check_digest, chunks, file_digest

T = TypeVar("T")
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _as(kind: Any, data: Any) -> Any:
    """JSON from the server as the records it stands for."""
    found = _ADAPTERS.get(kind)
    if found is None:
        found = _ADAPTERS[kind] = TypeAdapter(kind)
    return found.validate_python(data)


def _body(record: Any) -> Any:
    """A record as JSON data, with NaN metrics spelled out (JSON has no NaN)."""
    data = jsonio.loads(jsonio.dumps(record))
    _nan_out(record, data)
    return data


def _nan_out(record: Any, data: Any) -> None:
    metrics = getattr(record, "metrics", None)
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            if isinstance(value, float) and math.isnan(value):
                data["metrics"][key] = "NaN"
    for stage, out in zip(
        getattr(record, "stages", ()) or (), data.get("stages", ()), strict=False
    ):
        _nan_out(stage, out)


def _nan_in(data: Any) -> Any:
    """Null metrics from the server are NaN (it writes NaN as null)."""
    if isinstance(data, dict):
        metrics = data.get("metrics")
        if isinstance(metrics, dict):
            data["metrics"] = {k: math.nan if v is None else v for k, v in metrics.items()}
        for stage in data.get("stages") or ():
            _nan_in(stage)
    return data


def _path(*parts: str | int) -> str:
    return "/".join(quote(str(p), safe="") for p in parts)


class RemoteMetadataStore:
    """Models, versions, aliases and events on the server."""

    def __init__(self, client: ServerClient) -> None:
        self._client = client

    def add_version(self, model: str, draft: VersionDraft) -> tuple[ModelVersion, bool]:
        """See ``MetadataStore.add_version`` (the server records its token's name)."""
        answer = self._client.call("POST", _path("models", model, "versions"), _body(draft))
        return _as(ModelVersion, answer["version"]), bool(answer["created"])

    def list_models(self) -> list[ModelSummary]:
        """See ``MetadataStore.list_models``."""
        return cast(list[ModelSummary], _as(list[ModelSummary], self._client.call("GET", "models")))

    def get_model(self, model: str) -> ModelSummary:
        """See ``MetadataStore.get_model``."""
        return cast(
            ModelSummary, _as(ModelSummary, self._client.call("GET", _path("models", model)))
        )

    def find_by_content(self, model: str, content_digest: str) -> ModelVersion | None:
        """See ``MetadataStore.find_by_content``."""
        try:
            found = self._client.call(
                "GET", _path("models", model, "versions"), query={"content_digest": content_digest}
            )
        except RemoteError as err:
            if err.status == 404:
                return None
            raise
        return cast(ModelVersion, _as(ModelVersion, found[0])) if found else None

    def get_version(self, model: str, version: int) -> ModelVersion:
        """See ``MetadataStore.get_version``."""
        data = self._client.call("GET", _path("models", model, "versions", version))
        return cast(ModelVersion, _as(ModelVersion, data))

    def list_versions(
        self, model: str, *, below: int | None = None, limit: int | None = None
    ) -> list[ModelVersion]:
        """See ``MetadataStore.list_versions``."""
        query = {"below": below, "limit": limit}
        data = self._client.call("GET", _path("models", model, "versions"), query=query)
        return cast(list[ModelVersion], _as(list[ModelVersion], data))

    def resolve_alias(self, model: str, alias: str) -> int:
        """See ``MetadataStore.resolve_alias``."""
        return int(self._client.call("GET", _path("models", model, "aliases", alias))["version"])

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
        """See ``MetadataStore.move_alias`` (the actor is the token's name)."""
        body = {
            "to_version": to_version,
            "action": action,
            "reason": reason,
            "expect_last_move": expect_last_move,
        }
        data = self._client.call("POST", _path("models", model, "aliases", alias), body)
        return None if data is None else cast(AliasMove, _as(AliasMove, data))

    def alias_history(self, model: str, alias: str | None = None) -> list[AliasMove]:
        """See ``MetadataStore.alias_history``."""
        data = self._client.call("GET", _path("models", model, "history"), query={"alias": alias})
        return cast(list[AliasMove], _as(list[AliasMove], data))

    def append_event(
        self, kind: str, actor: str, *, model: str | None, version: int | None, data: dict[str, Any]
    ) -> Event:
        """Events are appended by the server itself, as it changes state."""
        raise ShipyardError(f"events are recorded by the server; {kind!r} cannot be sent to it")

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
        """See ``MetadataStore.list_events``."""
        query = {
            "model": model,
            "after": after_id,
            "limit": 100_000 if limit is None else limit,
            "kind_prefix": kind_prefix,
            "kind": kind,
            "deployment": deployment,
            "before": before_id,
            "actor": actor,
        }
        return cast(list[Event], _as(list[Event], self._client.call("GET", "events", query=query)))

    def close(self) -> None:
        """Nothing to release: connections close with the process."""


class RemoteRunStore:
    """Runs and the stage cache on the server."""

    def __init__(self, client: ServerClient) -> None:
        self._client = client

    def create_run(self, run: Run) -> None:
        """See ``RunStore.create_run``."""
        self._client.call("POST", "runs", _body(run))

    def update_stage(self, run_id: str, stage: StageRun) -> None:
        """See ``RunStore.update_stage``."""
        self._client.call("PUT", _path("runs", run_id, "stages", stage.name), _body(stage))

    def finish_run(self, run_id: str, status: str, error: str | None) -> Run:
        """See ``RunStore.finish_run``."""
        data = self._client.call(
            "POST", _path("runs", run_id, "finish"), {"status": status, "error": error}
        )
        return cast(Run, _as(Run, _nan_in(data)))

    def get_run(self, run_id: str) -> Run:
        """See ``RunStore.get_run``."""
        return cast(Run, _as(Run, _nan_in(self._client.call("GET", _path("runs", run_id)))))

    def list_runs(self, *, project: str | None = None, limit: int = 20) -> list[Run]:
        """See ``RunStore.list_runs``."""
        data = self._client.call("GET", "runs", query={"project": project, "limit": limit})
        return cast(list[Run], _as(list[Run], [_nan_in(r) for r in data]))

    def cache_get(self, fingerprint: str) -> CacheEntry | None:
        """See ``RunStore.cache_get``."""
        entry = self._client.call("GET", _path("cache", fingerprint))["entry"]
        return None if entry is None else cast(CacheEntry, _as(CacheEntry, _nan_in(entry)))

    def cache_put(self, entry: CacheEntry) -> None:
        """See ``RunStore.cache_put``."""
        self._client.call("PUT", _path("cache", entry.fingerprint), _body(entry))


class RemoteArtifactStore:
    """Blobs on the server: asked for by digest first, streamed, verified on both ends."""

    def __init__(self, client: ServerClient) -> None:
        self._client = client

    def put_file(self, path: Path, known: Blob | None = None) -> Blob:
        """See ``ArtifactStore.put_file``: a blob the server holds is not sent again."""
        if not path.is_file():
            raise NotFoundError(f"no such file: {path}")
        blob = known or file_digest(path)
        if not self._client.blob_exists(blob.digest):
            self._client.upload(blob.digest, chunks(path), blob.size)
        return blob

    def put_bytes(self, data: bytes) -> Blob:
        """See ``ArtifactStore.put_bytes``."""
        blob = Blob(f"sha256:{hashlib.sha256(data).hexdigest()}", len(data))
        if not self._client.blob_exists(blob.digest):
            self._client.upload(blob.digest, iter([data]), blob.size)
        return blob

    def put_stream(self, parts: Iterator[bytes], expected: str) -> Blob:
        """See ``ArtifactStore.put_stream``: the server refuses bytes that are not ``expected``."""
        check_digest(expected)
        if self._client.blob_exists(expected):
            for _ in parts:  # the caller's stream is consumed either way
                pass
            return Blob(expected, self.size(expected))
        answer = self._client.upload(expected, parts, None)
        return Blob(expected, int(answer["size"]))

    def exists(self, digest: str) -> bool:
        """See ``ArtifactStore.exists``."""
        return self._client.blob_exists(check_digest(digest))

    def size(self, digest: str) -> int:
        """See ``ArtifactStore.size``."""
        return self._client.blob_size(check_digest(digest))

    def open_stream(self, digest: str) -> Iterator[bytes]:
        """See ``ArtifactStore.open_stream`` (unverified: the reader hashes what it gets)."""
        return self._client.download(check_digest(digest))

    def read_bytes(self, digest: str) -> bytes:
        """See ``ArtifactStore.read_bytes``: refused unless the bytes hash to ``digest``."""
        data = b"".join(self.open_stream(digest))
        actual = f"sha256:{hashlib.sha256(data).hexdigest()}"
        if actual != digest:
            raise self._mismatch(digest, actual)
        return data

    def copy_to(self, digest: str, dest: Path) -> None:
        """See ``ArtifactStore.copy_to``: nothing is left at ``dest`` on a mismatch."""
        try:
            atomic_write(dest, self.open_stream(digest), expected=digest)
        except IntegrityError as err:
            raise self._mismatch(digest, "other bytes") from err
        dest.chmod(0o644)

    def verify(self, digest: str) -> None:
        """See ``ArtifactStore.verify``: the server's copy, hashed as it arrives."""
        h = hashlib.sha256()
        for chunk in self.open_stream(digest):
            h.update(chunk)
        if f"sha256:{h.hexdigest()}" != digest:
            raise self._mismatch(digest, f"sha256:{h.hexdigest()}")

    def _mismatch(self, digest: str, actual: str) -> IntegrityError:
        return IntegrityError(
            f"artifact {digest} from {self._client.url} is corrupt: its bytes hash to {actual}",
            hint="the server's copy is damaged; re-register the model from a trusted source",
        )


class _ServerSide:
    """A store only the server itself uses: every use says where to go instead."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __getattr__(self, name: str) -> Any:
        raise ShipyardError(
            f"{self._what} are kept by the team's server; this command cannot reach them from here",
            hint="use the commands that talk to the server (deploy, status, alerts, tokens)",
        )


def remote_stores(home: Path, client: ServerClient) -> Stores:
    """The stores of the server ``client`` talks to; ``home`` keeps local checkouts."""
    return Stores(
        home,
        RemoteMetadataStore(client),
        RemoteArtifactStore(client),
        runs=lambda: RemoteRunStore(client),
        # mypy does not count __getattr__ towards a protocol; these refuse every use
        deploy=lambda: cast(DeployStore, _ServerSide("deployments")),
        alerts=lambda: cast(AlertStore, _ServerSide("alert states")),
        tokens=lambda: cast(TokenStore, _ServerSide("tokens")),
    )
