"""Light commands stay light: `--version`, `--help` and `models list` import no model
library, no schema library and no HTTP client (each would cost their start-up)."""

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
# Runs the CLI's own entry point, then says which of HEAVY it imported.
PROBE = f"""
import json, sys
from shipyard.cli.main import main
try:
    main()
except SystemExit:
    pass
finally:
    print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["models", "list"]])
def test_a_light_command_imports_nothing_heavy(args: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True, text=True, timeout=60,
        env={"SHIPYARD_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = json.loads(done.stderr.strip().splitlines()[-1])
    assert imported == [], f"shipyard {' '.join(args)} imported {imported}"
