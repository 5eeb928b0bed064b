"""Where the embedded infrastructure's executables live (installed by the PyPI wheels)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _venv_bin(name: str) -> str:
    # Next to the running interpreter first: `.venv/bin/python -m pytest` does not put
    # .venv/bin on PATH, and the SDK would otherwise try (and fail, offline) to download.
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(
            f"{name} not found: run `make install` (it comes from a PyPI wheel)"
        )
    return found


def temporal_cli() -> str:
    return _venv_bin("temporal")


def temporal_test_server() -> str:
    return _venv_bin("temporal-test-server")
