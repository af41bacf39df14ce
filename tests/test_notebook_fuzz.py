"""Bad parameters are refused in the first cell of every notebook, naming the parameter.

For every notebook under ``notebooks/`` five bad inputs are tried: a wrong type, an
out-of-range value, an unknown name, an unknown choice and an unavailable device. The cells run
as papermill runs them, in one IPython shell: the ``parameters`` cell, papermill's injected
``# Parameters`` cell, then the first code cell after them, which must raise
:class:`~wgf_core.validation.ParameterError` naming the parameter (so no later cell, and no
output, runs). The same cells with the ``ci`` parameters alone must run cleanly: that is the
input on which the test would fail if the first cell refused everything. A real papermill run
of the unknown-name case is in ``tests/test_notebooks.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

from wgf_core.validation import ParameterError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_book as bb  # noqa: E402

NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
#: The pages of notebooks/pages.toml: each runs its source with its own parameters.
MULTI_PAGES = [p for p in bb.discover(ROOT / "notebooks") if p.parameters]

# (case, injected parameters, the parameter the error must name)
CASES = [
    ("wrong type", {"seed": "abc"}, "seed"),
    ("out of range", {"seed": -1}, "seed"),
    ("unknown name", {"sedd": 3}, "sedd"),
    ("unknown choice", {"profile": "fast"}, "profile"),
    ("unavailable device", {"device": "cuda:99"}, "device"),
]


def _cells(path: Path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    i = next(k for k, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    return code[i].source, code[i + 1].source


def _run_first_cell(path: Path, injected: dict):
    """Run parameters cell, injected cell and the first code cell as papermill does; return the error."""
    from IPython.core.interactiveshell import InteractiveShell

    params, first = _cells(path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        for src in (params, "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in injected.items()), first):
            result = shell.run_cell(src, store_history=True)
            if not result.success:
                return result.error_in_exec or result.error_before_exec
        return None
    finally:
        os.chdir(here)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks").with_suffix("")))
def test_bad_parameters_are_refused_in_the_first_cell(path, capsys):
    assert _run_first_cell(path, {"profile": "ci"}) is None, "the ci parameters must pass the first cell"
    refused = []
    for case, injected, name in CASES:
        err = _run_first_cell(path, {"profile": "ci", **injected})
        assert isinstance(err, ParameterError), f"{case} {injected}: got {err!r}"
        assert f"'{name}'" in str(err), f"{case} {injected}: the error does not name {name!r}: {err}"
        refused.append(case)
    capsys.readouterr()  # the cells' own prints
    assert len(refused) == len(CASES)


@pytest.mark.parametrize("page", MULTI_PAGES, ids=[p.key for p in MULTI_PAGES])
def test_page_parameters_pass_the_first_cell_and_a_wrong_page_is_refused(page, capsys):
    """A page of notebooks/pages.toml: its parameters (with ``page``) are declared and pass the first
    cell; a page key that is not the one its other parameters make is refused naming ``page``."""
    params = bb.page_parameters(page, {"profile": "ci"})
    assert _run_first_cell(page.source, params) is None
    err = _run_first_cell(page.source, dict(params, page=page.key + "_other"))
    assert isinstance(err, ParameterError) and "'page'" in str(err), err
    capsys.readouterr()


def test_ift_2d_target_is_a_choice(capsys):
    err = _run_first_cell(ROOT / "notebooks" / "ift" / "01_particles_2d.ipynb", {"profile": "ci", "target": "cube"})
    assert isinstance(err, ParameterError) and "'target'" in str(err) and "'mixture'" in str(err), err
    capsys.readouterr()
