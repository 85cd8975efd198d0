"""The container builders Shipyard drives: podman, buildah, docker — whichever is installed.

Each is called as the user has it configured (storage, registries, network), with
the command lines below; their output goes to the terminal as it comes, and a
failure ends with the builder's last lines. ``podman`` and ``buildah`` write the
Docker image format (the OCI format has no ``HEALTHCHECK``) and take the
version's registration time as every timestamp (``--timestamp``), which makes a
version's layers the same bytes on every build; ``docker`` gets it as
``SOURCE_DATE_EPOCH``, which BuildKit uses for the image's dates.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.images import BUILDERS

_TAIL = 15  # builder output lines a failure repeats


class BuilderError(ShipyardError):
    """No builder to use, or the builder failed; the message carries its last lines."""


@dataclass(frozen=True, slots=True)
class Builder:
    """A builder on this machine: its name (one of ``BUILDERS``) and executable."""

    name: str
    executable: str

    def build_command(
        self, context: Path, tag: str, timestamp: int, build_args: dict[str, str], iidfile: Path
    ) -> list[str]:
        """The command that builds ``context``'s Dockerfile as ``tag``."""
        args = [f"--build-arg={k}={v}" for k, v in sorted(build_args.items())]
        common = ["--iidfile", str(iidfile), "--tag", tag, *args]
        if self.name == "docker":
            epoch = f"--build-arg=SOURCE_DATE_EPOCH={timestamp}"
            return [self.executable, "build", *common, epoch, str(context)]
        verb = "build" if self.name == "podman" else "bud"
        reproducible = ["--layers", "--format", "docker", f"--timestamp={timestamp}"]
        return [self.executable, verb, *reproducible, *common, str(context)]

    def push_command(self, tag: str, insecure: bool, digestfile: Path) -> list[str]:
        """The command that pushes ``tag`` to the registry it names."""
        if self.name == "docker":
            return [self.executable, "push", tag]  # docker's daemon decides about TLS
        tls = ["--tls-verify=false"] if insecure else []
        return [self.executable, "push", *tls, "--digestfile", str(digestfile), tag]


def find_builder(name: str | None) -> Builder:
    """The named builder, or the first of ``BUILDERS`` on ``PATH``."""
    if name is not None:
        if name not in BUILDERS:
            raise InvalidInputError(
                f"--builder {name!r}: not a builder Shipyard knows",
                hint=f"choose one of {', '.join(BUILDERS)}",
            )
        executable = shutil.which(name)
        if executable is None:
            raise BuilderError(
                f"--builder {name}: {name} is not installed (not on PATH)",
                hint=_INSTALL_HINT,
            )
        return Builder(name, executable)
    for candidate in BUILDERS:
        executable = shutil.which(candidate)
        if executable is not None:
            return Builder(candidate, executable)
    raise BuilderError(
        "no container builder found: images are built with podman, buildah or docker, "
        "and none of them is on PATH",
        hint=_INSTALL_HINT,
    )


_INSTALL_HINT = (
    "install one, e.g. `sudo apt-get install podman` (Debian, Ubuntu) or `sudo dnf install "
    "podman` (Fedora), or Docker (https://docs.docker.com/engine/install/); then run the "
    "command again (--builder chooses among several)"
)


def registry_host(tag: str) -> str | None:
    """The registry a tag names (``registry.example:5000/digits:4`` → ``registry.example:5000``),
    or None for a name without one (``shipyard/digits:4``)."""
    first, sep, _ = tag.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def is_loopback(host: str) -> bool:
    """Whether a registry ``HOST[:PORT]`` is on this machine (such registries rarely have TLS)."""
    if host.startswith("["):  # [::1]:5000
        name = host[1:].partition("]")[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def run_streamed(command: Sequence[str], what: str, out: TextIO) -> None:
    """Run a builder command, its output passed on to ``out`` line by line; a failure
    raises ``BuilderError`` with the last lines."""
    tail: deque[str] = deque(maxlen=_TAIL)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for raw in proc.stdout or ():
            line = raw.decode(errors="replace")
            out.write(line)
            out.flush()
            tail.append(line.rstrip("\n"))
        code = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: the builder does not outlive the command
            proc.terminate()
            proc.wait()
    if code != 0:
        last = "\n".join(f"  | {line}" for line in tail)
        raise BuilderError(
            f"{what} failed ({Path(command[0]).name} exited {code}); its last lines:\n{last}",
            hint="the builder's full output is above",
        )
