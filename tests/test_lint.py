"""Lint gate: ``ruff check`` (pyflakes and import order, configured in pyproject.toml) stays clean.

``make test`` runs ruff itself before pytest; this test makes lint rot fail a plain ``pytest`` run too.
"""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["wgf_core", "scripts", "tests", "notebooks", "benchmarks"]


def _ruff_command():
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff")
    return [exe] if exe else None


def test_ruff_check_is_clean():
    cmd = _ruff_command()
    if cmd is None:
        pytest.skip("ruff is not installed (it is in the dev extra: pip install -e '.[dev]')")
    res = subprocess.run([*cmd, "check", "--no-cache", "--output-format", "concise", *PATHS],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"ruff check found problems (fix with `ruff check --fix`):\n{res.stdout}{res.stderr}"
