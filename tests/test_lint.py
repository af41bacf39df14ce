"""Lint gate: ``ruff check`` (pyflakes and import order, configured in pyproject.toml) stays clean.

``make test`` runs ruff itself before pytest; this test makes lint rot fail a plain ``pytest`` run too.
"""

import ast
import importlib.util
import re
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


# TeX in a docstring that is not raw turns \a, \b, \f, \v into control characters and \t, \n into a tab or a
# line break (\frac, \approx, \top, \nabla, ...): the rendered API docs then lose the symbol.
_TEX_ACCIDENT = re.compile(r"[\x07\x08\x0b\x0c]|\t(?:au|heta|op|imes|ext|ilde|anh|riangle)\b|\n(?:abla|u|eq|orm)\b")


def _docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield getattr(node, "lineno", 1), doc


def test_no_tex_escape_accident_in_docstrings():
    assert _TEX_ACCIDENT.search('"""a \frac and \nabla"""'.replace('"', ""))  # the pattern catches one
    bad = []
    for folder in ("wgf_core", "scripts", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, doc in _docstrings(ast.parse(path.read_text(), str(path))):
                if _TEX_ACCIDENT.search(doc):
                    bad.append(f"{path.relative_to(ROOT)}:{line}")
    assert not bad, "docstrings with TeX escapes read as control characters (make them r\"\"\"...\"\"\"): " + ", ".join(bad)
