"""Helpers of the deployment tests: the project's files, a running sentiment-consumer."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from common.paths import PROJECT_ROOT

PROMETHEUS_DIR = PROJECT_ROOT / "deploy" / "prometheus"
VENV_BIN = Path(sys.executable).parent


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body); (0, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@pytest.fixture(scope="session")
def default_model(default_model_dir: Path) -> Path:
    return default_model_dir


def tool(name: str) -> str:
    """Path of a Debian tool the test drives; fails when the machine lacks it (make system-deps installs it)."""
    for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin"]:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail(f"{name} is not installed (make system-deps installs it)", pytrace=False)


@functools.cache
def command_help(*command: str) -> str:
    """``--help`` of one of the project's commands (for create-topics, of its subcommand)."""
    result = subprocess.run(
        [str(VENV_BIN / command[0]), *command[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
