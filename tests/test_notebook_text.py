"""No measured number is typed in a notebook's Markdown.

Numbers a run measures reach the page through myst-nb ``glue`` (``{glue:text}`` / ``{glue:md}``
roles) or Markdown displayed by a code cell, so the text cannot contradict the build it sits in.
A number in a Markdown cell is accepted only if it is

- a reference (Fig. 3, Sec. 4.2, eq. (23), Table 1, Appendix B.3, Algorithm 1, arXiv ids, years),
- a small count (an integer below 10: "three schemes", "4 pulses"),
- a value the notebook's own code sets (its parameters and the paper's configuration), or
- in the registry text of the notebook's claims (the paper's words, criteria, paper values),

or is listed in :data:`PAPER_VALUES` below (values the paper states, quoted in the prose).

A notebook that makes several pages keeps each page's prose in ``notebooks/<paper>/prose/<page>.md``
(displayed from code, :func:`wgf_core.reporting.prose_sections`): its sections are checked the same
way, against the page's own claims and its source notebook's code.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from wgf_core import claims as C

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_book as bb  # noqa: E402

NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)

#: Paper values quoted in a notebook's prose beyond its code and claim registry: notebook -> values.
PAPER_VALUES: dict[str, set[float]] = {}

_NUM = r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:%|x|×)?(?![\w])"
_REF = re.compile(r"\b(?:Fig(?:ure)?s?\.?|Sec(?:tion)?s?\.?|§|[Ee]q(?:uation)?s?\.?|Tab(?:le)?s?\.?|App(?:endix)?\.?"
                  r"|Alg(?:orithm)?\.?|Example|Theorem|Thm\.|Prop(?:osition)?\.?|Lemma|Remark|Corollary|"
                  r"Definition|Assumption|Chapter|Slide|slide)\s*~?\(?[A-Z]?\d+(?:\.\d+)*(?:\([a-z]\)|[a-z])?\)?"
                  r"(?:\s*(?:,|and|&|-|–|to)\s*\(?[A-Z]?\d+(?:\.\d+)*(?:\([a-z]\)|[a-z])?\)?)*")


def _strip(md: str) -> str:
    """Markdown without code, glue roles, link targets, references and citations."""
    md = re.sub(r"```(?!\{)[^\n]*\n.*?```", " ", md, flags=re.S)     # plain code fences (not directives)
    md = re.sub(r"^\s*```\{[^}]*\}.*$", " ", md, flags=re.M)          # directive lines themselves
    md = re.sub(r"^:\w[\w-]*:.*$", " ", md, flags=re.M)              # directive options
    md = re.sub(r"\{glue(?::\w+)?\}`[^`]*`", " ", md)                 # glued values
    md = re.sub(r"\{(?:cite|doc|ref|numref|eq)(?::\w+)?\}`[^`]*`", " ", md)
    md = re.sub(r"`[^`]*`", " ", md)                                 # inline code
    md = re.sub(r"\]\([^)]*\)", "]", md)                              # link targets
    md = re.sub(r"<[^>]+>", " ", md)                                  # html tags
    md = re.sub(r"arXiv:\s*\d{4}\.\d{4,5}(?:v\d+)?", " ", md)
    md = _REF.sub(" ", md)
    return md


def _numbers(text: str) -> list[str]:
    return re.findall(_NUM, text)


def _value(tok: str) -> float:
    return float(tok.rstrip("%x×").lstrip("+"))


def suspicious(tok: str) -> bool:
    """A number that looks measured: a decimal, an exponent, a percentage or an integer >= 10 (not a year)."""
    v = _value(tok)
    if "%" in tok or "." in tok or "e" in tok.lower():
        return True
    if 1900 <= abs(v) <= 2100 and float(v).is_integer():
        return False
    return abs(v) >= 10


def page_keys(nb_path: Path) -> list[str]:
    """The book pages a notebook makes: its own key, or the pages of notebooks/pages.toml it is the source of."""
    pages = [k for k, e in bb.load_pages(nb_path.parent.parent).items() if e["source"].resolve() == nb_path.resolve()]
    return pages or [f"{nb_path.parent.name}/{nb_path.stem}"]


def allowed_values(nb_path: Path, cells: list, keys=None) -> set[float]:
    keys = page_keys(nb_path) if keys is None else keys
    vals = set().union(*(PAPER_VALUES.get(key, set()) for key in keys))
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    texts = [code]
    # configuration that moved out of the notebook into its paper's experiment driver is still configuration
    driver = ROOT / "wgf_core" / "experiments" / f"{nb_path.parent.name}.py"
    if driver.exists():
        texts.append(driver.read_text())
    for c in (c for key in keys for c in C.for_notebook(key)):
        texts += [c.statement, c.quote, c.where, c.criterion_text, c.tolerance_reason, c.paper_value]
    for t in texts:
        for tok in re.findall(r"(?<![\w])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", t):
            vals.add(float(tok))
            vals.add(-float(tok))
    return vals


def _bad(where: str, md: str, ok: set[float]) -> list[str]:
    return [f"{where}: {tok}" for tok in _numbers(_strip(md)) if suspicious(tok) and _value(tok) not in ok]


def typed_numbers(nb_path: Path) -> list[str]:
    """The suspicious numbers typed in the notebook's Markdown that no allowed source explains."""
    cells = json.loads(nb_path.read_text())["cells"]
    ok = allowed_values(nb_path, cells)
    return [b for i, c in enumerate(cells) if c["cell_type"] == "markdown"
            for b in _bad(f"cell {i}", "".join(c["source"]), ok)]


def prose_typed_numbers(md_path: Path) -> list[str]:
    """The same for the prose file of the page ``<paper>/<stem>`` (``notebooks/<paper>/prose/<stem>.md``)."""
    from wgf_core.reporting import prose_sections

    key = f"{md_path.parent.parent.name}/{md_path.stem}"
    source = bb.load_pages(md_path.parent.parent.parent)[key]["source"]
    ok = allowed_values(source, json.loads(source.read_text())["cells"], keys=[key])
    return [b for name, md in prose_sections(md_path).items() for b in _bad(f"section {name}", md, ok)]


def test_detector_flags_measured_and_allows_references(tmp_path):
    nb = {"cells": [
        {"cell_type": "code", "metadata": {}, "source": ["steps = 6000\n", "sigma = 10.0\n"], "outputs": []},
        {"cell_type": "markdown", "metadata": {}, "source": [
            "Fig. 3(a) and Sec. 4.2, eq. (23), Appendix B.3 of arXiv:2405.17075 (NeurIPS 2024): "
            "6000 steps with sigma = 10, three schemes, {glue:text}`mmd_final:.3e`, `0.123`."]},
        {"cell_type": "markdown", "metadata": {}, "source": ["one pulse from k = 452, ratio 0.52x, 12 % off"]},
    ]}
    (tmp_path / "x").mkdir()
    p = tmp_path / "x" / "01_t.ipynb"
    p.write_text(json.dumps(nb))
    assert typed_numbers(p) == ["cell 2: 452", "cell 2: 0.52x", "cell 2: 12"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS])
def test_no_typed_measured_numbers(path):
    bad = typed_numbers(path)
    assert not bad, (f"{path.name}: numbers typed in Markdown that the run should produce (glue them, or "
                     f"list a paper value in PAPER_VALUES): {bad}")


PROSE = sorted((ROOT / "notebooks").glob("*/prose/*.md"))


def test_prose_files_are_found_and_checked(tmp_path):
    assert {p.stem for p in PROSE} >= {"01_interaction_energy", "05_mnist"}
    # the failing input: a measured number typed into a page's prose
    paper = tmp_path / "notebooks" / "riesz"
    (paper / "prose").mkdir(parents=True)
    src = ROOT / "notebooks" / "riesz" / "riesz_flows.ipynb"
    (paper / src.name).write_text(src.read_text())
    (paper.parent / "pages.toml").write_text('[pages."riesz/05_mnist"]\nsource = "riesz/riesz_flows.ipynb"\n'
                                             'title = "T"\nparameters = { experiment = "mnist" }\n')
    (paper / "prose" / "05_mnist.md").write_text("<!-- section: results -->\nMMD 0.123 at $t = 48000$, "
                                                 "{glue:text}`particle_t:.0f`.\n")
    assert prose_typed_numbers(paper / "prose" / "05_mnist.md") == ["section results: 0.123"]


@pytest.mark.parametrize("path", PROSE, ids=[str(p.relative_to(ROOT / "notebooks")) for p in PROSE])
def test_no_typed_measured_numbers_in_page_prose(path):
    bad = prose_typed_numbers(path)
    assert not bad, (f"{path.name}: numbers typed in a page's prose that the run should produce (glue roles are "
                     f"filled from the run): {bad}")
