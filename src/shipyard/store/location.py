"""Where stores live, written as one string each: ``open_artifacts`` turns an artifact
location into the store that serves it, ``open_location`` a metadata location (with its
artifacts) into a database for copying, and ``shown_location`` either into a form safe
to show (no password).

Accepted artifact locations:

- ``s3://bucket/prefix``: an S3 bucket (AWS or any S3-compatible service; endpoint, region
  and credentials from boto3's environment and config files);
- ``file:///abs/path`` or a plain path: a local directory; a relative path is taken
  relative to the Shipyard home, ``~`` is expanded.

Backends are imported only when chosen, so a local home never imports boto3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from shipyard.errors import InvalidInputError
from shipyard.store.artifacts import ArtifactStore
from shipyard.store.sql.database import Database

ACCEPTED = "s3://bucket/prefix, file:///path/to/dir or a directory path"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_artifacts(location: str | Path, home: Path) -> ArtifactStore:
    """The artifact store at ``location`` (see the module docstring for what is accepted).

    S3 uploads are spooled under ``home/tmp`` while they are hashed.
    """
    if isinstance(location, Path):
        return _local(location, home)
    scheme = _SCHEME.match(location)
    if scheme is None:
        if not location.strip():
            raise InvalidInputError("the artifact store location is empty", hint=f"use {ACCEPTED}")
        return _local(Path(location), home)
    name = scheme.group(1).lower()
    if name == "s3":
        from shipyard.store.s3.artifacts import S3ArtifactStore

        return S3ArtifactStore(location, spool=home / "tmp")
    if name == "file":
        return _local(_file_url_path(location), home)
    raise InvalidInputError(
        f"unsupported artifact store location {name}://…", hint=f"use {ACCEPTED}"
    )


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise InvalidInputError(
            "a file:// artifact store location must name a path on this machine",
            hint=f"write file:///absolute/path (three slashes); accepted: {ACCEPTED}",
        )
    if not parts.path:
        raise InvalidInputError("the file:// location names no directory", hint=f"use {ACCEPTED}")
    return Path(unquote(parts.path))


def _local(path: Path, home: Path) -> ArtifactStore:
    from shipyard.store.local.artifacts import LocalArtifactStore

    path = path.expanduser()
    return LocalArtifactStore(path if path.is_absolute() else home / path)


def shown_location(location: str) -> str:
    """``postgresql://shipyard:secret@db:5432/shipyard`` → ``postgresql://shipyard@db:5432/
    shipyard``; a path or a URL without a password as it is (query strings are dropped:
    they may hold a password too)."""
    if "://" not in location:
        return location
    parts = urlsplit(location)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True, slots=True)
class Location:
    """A metadata database and its artifact store, opened."""

    database: Database
    artifacts: ArtifactStore

    def close(self) -> None:
        """Release the database connection."""
        self.database.close()


def open_location(location: str, artifacts: str | None) -> Location:
    """A registry to copy from or to: a Shipyard home directory (its ``registry.db`` and
    ``artifacts/``), an SQLite file, or a ``postgresql://`` URL, with ``artifacts`` (needed
    for a URL or a file: there is no home to find them in)."""
    from shipyard.store import open_database

    if "://" not in location and Path(location).expanduser().is_dir():
        home = Path(location).expanduser().resolve()
        return Location(
            open_database(home, None), open_artifacts(artifacts or home / "artifacts", home)
        )
    if artifacts is None:
        raise InvalidInputError(
            f"{shown_location(location)} is not a Shipyard home: say where its artifacts are",
            hint="give --artifacts (the target's) or --from-artifacts (the source's): a "
            "directory or s3://BUCKET/PREFIX",
        )
    home = Path.cwd()
    return Location(open_database(home, location), open_artifacts(artifacts, home))
