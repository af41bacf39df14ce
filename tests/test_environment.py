"""environment.yml stays consistent with pyproject.toml and the CPU constraints file."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")
yaml = pytest.importorskip("yaml")


def _load():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return env, proj


def test_python_version_satisfies_requires_python():
    env, proj = _load()
    py = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    version = tuple(int(v) for v in re.findall(r"\d+", py.split("=")[-1])[:2])
    minimum = tuple(int(v) for v in re.findall(r"\d+", proj["project"]["requires-python"])[:2])
    assert version >= minimum


def test_pip_section_installs_the_project_with_constraints():
    env, proj = _load()
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e .[dev]" in pip, "environment.yml must install the project with its dev extra"
    assert "-c constraints-cpu.txt" in pip
    assert "dev" in proj["project"]["optional-dependencies"]


def test_no_conda_package_duplicates_a_pyproject_dependency():
    env, proj = _load()
    names = {re.split(r"[<>=!\[ ]", d)[0].lower() for d in proj["project"]["dependencies"]}
    for extra in proj["project"]["optional-dependencies"].values():
        names |= {re.split(r"[<>=!\[ ]", d)[0].lower() for d in extra}
    conda = {re.split(r"[<>=!\[ ]", d)[0].lower() for d in env["dependencies"] if isinstance(d, str)}
    assert not (conda & names), f"listed in both environment.yml and pyproject.toml: {conda & names}"


def test_constraints_pin_the_cpu_torch():
    lines = [l.strip() for l in (ROOT / "constraints-cpu.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert "torch==2.13.0" in lines
