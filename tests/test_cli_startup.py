"""Light commands stay light: `--version`, `--help` and `models list` import no model
library, no schema library and no HTTP client (each would cost their start-up);
`--version` not even rich or a command's module, and a command only its own module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "sklearn", "numpy", "scipy", "skops", "keras", "torch", "matplotlib", "pydantic", "yaml",
    "http.client", "ssl", "httpx", "starlette", "uvicorn", "psycopg", "boto3",
)  # fmt: skip
# Runs the CLI's own entry point, then lists every module it imported.
PROBE = """
import json, sys
from shipyard.cli.main import main
try:
    main()
except SystemExit:
    pass
finally:
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


COMMAND_MODULES = ("shipyard.cli.run", "shipyard.cli.deploy", "shipyard.cli.serve")
NONE_OF_THEM = (*HEAVY, "rich", "shipyard.store", *COMMAND_MODULES)


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (["--version"], NONE_OF_THEM),
        (["--help"], HEAVY),
        (["models", "list"], (*HEAVY, *COMMAND_MODULES)),
    ],
)
def test_a_light_command_imports_nothing_heavy(
    args: list[str], heavy: tuple[str, ...], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True, text=True, timeout=60,
        env={"SHIPYARD_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    imported = [m for m in heavy if m in loaded]
    assert imported == [], f"shipyard {' '.join(args)} imported {imported}"
