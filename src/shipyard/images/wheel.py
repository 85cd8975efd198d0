"""A wheel of the running Shipyard, for images: Shipyard is not on PyPI.

The wheel is made from the installed package itself (its files and its
distribution metadata), so it works for an editable checkout and for an
installed wheel alike, with no build backend and no network. Entries are
sorted and dated 1980-01-01, so the same code always gives the same bytes and
the image layer that installs it is reused.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import shipyard

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
_WHEEL = "Wheel-Version: 1.0\nGenerator: shipyard\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _package_files() -> list[tuple[str, bytes]]:
    package = Path(shipyard.__file__).parent
    return [
        (path.relative_to(package.parent).as_posix(), path.read_bytes())
        for path in sorted(package.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]


def write_wheel(directory: Path) -> Path:
    """Write ``shipyard-VERSION-py3-none-any.whl`` into ``directory``; return its path."""
    from importlib import metadata  # 25 ms of imports, paid only when an image is built

    dist = metadata.distribution("shipyard")
    info = f"shipyard-{dist.version}.dist-info"
    entries = _package_files()
    entries.append((f"{info}/METADATA", (dist.read_text("METADATA") or "").encode()))
    entries.append((f"{info}/WHEEL", _WHEEL.encode()))
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        entries.append((f"{info}/entry_points.txt", entry_points.encode()))
    record = [_record_line(name, data) for name, data in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"shipyard-{dist.version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries:
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return path
