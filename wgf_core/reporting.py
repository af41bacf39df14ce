"""The record each executed notebook leaves, its rendering, and prose glued from the run.

A notebook ends with :func:`record_metrics`, which displays one JSON output with the MIME type
:data:`METRICS_MIME` and the claims' verdicts as Markdown. The book's reproduction report
(``scripts/build_book.py``) and the notebook tests (``tests/test_notebooks.py``) read it back with
:func:`read_metrics`. A record whose project checks fail puts a warning listing them at the top of its
executed notebook (:func:`mark_failed_checks`) and a row per failed check in the report
(:func:`failed_checks_table`).

Record format::

    {
      "notebook": "ift/01_gaussian_2d",
      "profile": "default",
      "seed": 0,                          # the base seed of every ensemble in the notebook
      "claims": [ ...entries of wgf_core.claims.assess... ],
      "checks": {"no_nan": true},         # sanity checks that must hold at every profile
      "metrics": {...},                   # free-form numbers, deterministic for a given seed
      "timings": {...}                    # wall-clock seconds: vary from run to run
    }

Measured numbers in a notebook's Markdown come from the run through :func:`glue` (myst-nb's
``glue``; referenced in Markdown as ``{glue:text}`name:.3g``` or ``{glue:md}`name```). A notebook
that makes several book pages keeps each page's prose in a Markdown file of sections
(:func:`prose_sections`) and displays it with the run's values filled into the same roles
(:func:`fill_glue`).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from . import backends
from .claims.core import STATUSES

METRICS_MIME = "application/vnd.wgf-compendium.metrics+json"

#: How a verdict is shown on the pages.
STATUS_LABEL = {"reproduced": "✓ reproduced", "differs": "✗ differs", "inconclusive": "≈ inconclusive",
                "not-run": "– not run"}
KIND_LABEL = {"paper": "paper claim", "reading": "reading", "check": "project check"}
#: Report order and headings of the kinds.
KIND_HEADING = {"paper": "Paper claims (the paper's own words state the result checked)",
                "reading": "Readings (the project's reading of a theorem, figure or script of the paper)",
                "check": "Project checks (acceptance checks of this compendium, not statements of the papers)"}


def _clean(obj: Any) -> Any:
    """Make ``obj`` JSON-safe: tensors/arrays to lists, NaN/inf to strings."""
    if hasattr(obj, "tolist"):
        obj = obj.tolist()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    return str(obj)


def make_record(notebook: str, profile: str, seed: int, claims: Iterable[dict],
                checks: Optional[Mapping[str, bool]] = None, metrics: Optional[Mapping[str, Any]] = None,
                timings: Optional[Mapping[str, Any]] = None) -> dict:
    """The record of one execution; ``claims`` are entries of :func:`wgf_core.claims.assess`; ``backends`` the
    implementations that ran in this process, per operation (:func:`wgf_core.backends.used`)."""
    rec = {"notebook": notebook, "profile": profile, "seed": int(seed), "claims": _clean(list(claims)),
           "checks": {k: bool(v) for k, v in (checks or {}).items()}, "metrics": _clean(dict(metrics or {})),
           "timings": _clean(dict(timings or {})), "backends": backends.used()}
    ids = [c.get("id") for c in rec["claims"]]
    if len(set(ids)) != len(ids):
        raise ValueError(f"claims recorded twice: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    for c in rec["claims"]:
        if c.get("status") not in STATUSES:
            raise ValueError(f"claim {c.get('id')!r}: status must be one of {STATUSES}")
    json.dumps(rec)
    return rec


def record_metrics(notebook: str, profile: str, seed: int, claims: Iterable[dict], checks=None, metrics=None,
                   timings=None, show: bool = True) -> dict:
    """Display the record as a JSON output and, if ``show``, the verdicts as Markdown."""
    rec = make_record(notebook, profile, seed, claims, checks, metrics, timings)
    try:
        from IPython.display import Markdown, display

        display({METRICS_MIME: rec, "text/plain": f"metrics record of {notebook} ({len(rec['claims'])} claims)"},
                raw=True)
        if show:
            display(Markdown(claims_markdown(rec["claims"])))
    except ImportError:  # pragma: no cover
        print(json.dumps(rec, indent=1))
    return rec


def read_metrics(notebook_path) -> Optional[dict]:
    """The record displayed by an executed notebook, or None if it has none."""
    nb = json.loads(Path(notebook_path).read_text())
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if METRICS_MIME in data:
                rec = data[METRICS_MIME]
                return json.loads(rec) if isinstance(rec, str) else rec
    return None


def comparable(record: Mapping) -> dict:
    """The part of a record that must be bitwise identical when the same seed runs twice.

    Drops ``timings`` and, for claims flagged ``timing`` (they compare wall-clock times), their
    repeats, margins, spread and verdict.
    """
    rec = json.loads(json.dumps(record))
    rec.pop("timings", None)
    for c in rec.get("claims", []):
        if c.get("timing"):
            for k in ("per_seed", "min", "median", "max", "status", "reason", "margin", "look", "seeds"):
                c.pop(k, None)
    return rec


# ----------------------------------------------------------------------------- rendering
def fmt_value(x: Any) -> str:
    """A measured value for a page: 4 significant digits, ``—`` for none."""
    if x is None or x == "":
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, float)):
        x = float(x)
        if not math.isfinite(x):
            return str(x)
        if x == int(x) and abs(x) < 1e6:
            return str(int(x))
        return f"{x:.4g}"
    return str(x)


def _signed(x: Any) -> str:
    if x is None:
        return "—"
    x = float(x)
    if not math.isfinite(x):
        return "+∞" if x > 0 else "−∞"
    return f"{x:+.3g}".replace("-", "−")


def interval_text(entry: Mapping) -> str:
    """``mean margin +0.12, interval [−0.05, +0.29] (98.3 %, 3 looks)`` for a claim entry."""
    m = entry.get("margin") or {}
    if m.get("mean") is None:
        return "no finite margin"
    if not (entry.get("stochastic") or entry.get("timing")):
        tol = entry.get("tolerance") or 0.0
        return f"margin {_signed(m['mean'])}" + (f" (numerical tolerance ±{tol:.3g})" if tol else "")
    conf = m.get("confidence")
    lo = m.get("low") if m.get("low") is not None else -math.inf
    hi = m.get("high") if m.get("high") is not None else math.inf
    looks = entry.get("looks") or 1
    return (f"mean margin {_signed(m['mean'])}, interval [{_signed(lo)}, {_signed(hi)}]"
            + (f" ({100 * conf:.3g} %, {looks} look{'s' if looks != 1 else ''})" if conf else ""))


def spread_text(entry: Mapping) -> str:
    """Seeds used, the mean margin and its interval, and the spread of the headline value.

    ``n = 3 (members 0–2, base seed 0; look 1 of 3): mean margin +0.12, interval [−0.05, +0.29]
    (98.3 %, 3 looks); value min / median / max = a / b / c``.
    """
    seeds = entry.get("seeds") or []
    if not seeds:
        return "not run"
    contiguous = all(b - a == 1 for a, b in zip(seeds, seeds[1:]))
    srange = f"member {seeds[0]}" if len(seeds) == 1 else (
        f"members {seeds[0]}–{seeds[-1]}" if contiguous else
        "members " + ", ".join(map(str, seeds)))
    base = entry.get("base_seed")
    look = f"; look {entry.get('look')} of {entry.get('looks')}" if (entry.get("looks") or 1) > 1 else ""
    head = f"n = {len(seeds)} ({srange}" + (f", base seed {base}" if base is not None else "") + f"{look})"
    head += ": " + interval_text(entry)
    if entry.get("min") is None:
        return head + "; no finite value"
    if len(seeds) == 1:
        return f"{head}; value {fmt_value(entry.get('median'))}"
    return (f"{head}; value min / median / max = {fmt_value(entry.get('min'))} / {fmt_value(entry.get('median'))} "
            f"/ {fmt_value(entry.get('max'))}")


def per_seed_text(entry: Mapping) -> str:
    """The per-seed margins, ``0: +0.1, 1: −0.02, ...``."""
    return ", ".join(f"{s.get('seed')}: {_signed(s.get('margin'))}" for s in entry.get("per_seed") or [])


def amendments_text(claim_id: str, amendments: Optional[list] = None, every: bool = True) -> list:
    """One line per amendment of ``claim_id`` (its own, and those of every claim if ``every``)."""
    from .claims.lock import amendments_for

    out = []
    for a in amendments_for(claim_id, amendments):
        if a.get("claim") == "*" and not every and claim_id != "*":
            continue
        seen = "after results: yes" if a.get("results_seen") else "after results: no"
        line = (f"{a.get('date')}{' (' + a['commit'] + ')' if a.get('commit') else ''}"
                f"{' [all claims]' if a.get('claim') == '*' else ''}: {a.get('change')} Why: {a.get('reason')} "
                f"({seen})")
        if a.get("earlier"):
            line += f". Earlier criterion: {a['earlier']}; decided by the {a.get('decided_by') or 'current'} one"
        out.append(line)
    return out


def configuration_text(conf: Mapping) -> str:
    """The configuration a claim ran at, in one line."""
    if not conf:
        return "—"
    head = f"`{conf.get('profile')}`"
    if conf.get("paper_config"):
        return head + ": the paper's configuration"
    parts = list(conf.get("deviations") or []) + list(conf.get("notes") or [])
    return head + ": " + "; ".join(parts)


def _cell(s: Any) -> str:
    return str(s if s not in (None, "") else "—").replace("\n", " ").replace("|", "\\|")


def claims_table(entries: Iterable[Mapping], amendments: Optional[list] = None) -> str:
    """A Markdown table: claim, the paper's words, criterion, configuration, seeds and margins, verdict."""
    rows = ["| claim | words (where) | criterion (why this tolerance); margin | configuration | "
            "seeds: margin interval; per-seed margins | verdict |", "|---|---|---|---|---|---|"]
    for c in entries:
        vl = f" ({c['value_label']})" if c.get("value_label") else ""
        reason = f" {c['reason']}" if c.get("reason") else ""
        diag = (f" *Diagnosis:* {c['diagnosis']}" if c.get("diagnosis") and c.get("status") in
                ("differs", "inconclusive") else "")
        amends = amendments_text(c.get("id"), amendments, every=False)
        amend = (" *Amendments:* " + " ".join(f"({i + 1}) {t}" for i, t in enumerate(amends))) if amends else ""
        rows.append("| " + " | ".join(_cell(x) for x in [
            f"**{c.get('id')}** ({KIND_LABEL.get(c.get('kind'), c.get('kind'))}): {c.get('statement')}",
            f"“{c.get('quote')}” ({c.get('where')})",
            f"{c.get('criterion')} *Why:* {c.get('tolerance_reason')} *Margin:* {c.get('margin_label')}.{amend}",
            configuration_text(c.get("configuration") or {}),
            spread_text(c) + vl + (f". Per seed: {per_seed_text(c)}" if len(c.get("per_seed") or []) > 1 else ""),
            f"**{STATUS_LABEL.get(c.get('status'), c.get('status'))}**{reason}{diag}",
        ]) + " |")
    return "\n".join(rows)


def claims_markdown(entries: Iterable[Mapping]) -> str:
    """The verdicts as Markdown blocks: paper claims, then readings, then project checks."""
    entries = list(entries)
    out = []
    for kind, heading in KIND_HEADING.items():
        sel = [c for c in entries if c.get("kind") == kind]
        if not sel:
            continue
        out.append(f"**{heading}**")
        out.append("")
        for c in sel:
            out.append(f"- **{c.get('id')}** ({KIND_LABEL.get(kind, kind)}): "
                       f"**{STATUS_LABEL.get(c.get('status'), c.get('status'))}**. {c.get('statement')}")
            out.append(f"  - Words ({c.get('where')}): “{c.get('quote')}”"
                       + (f" Paper's value: {c['paper_value']}." if c.get("paper_value") else ""))
            out.append(f"  - Criterion: {c.get('criterion')} Why this tolerance: {c.get('tolerance_reason')} "
                       f"Margin: {c.get('margin_label')}.")
            out.append(f"  - Configuration: {configuration_text(c.get('configuration') or {})}")
            vl = f" ({c['value_label']})" if c.get("value_label") else ""
            out.append(f"  - Seeds: {spread_text(c)}{vl}")
            for s in c.get("per_seed") or []:
                out.append(f"    - member {s.get('seed')}: margin {_signed(s.get('margin'))}"
                           + (f": {s.get('text')}" if s.get("text") else ""))
            if c.get("reason"):
                out.append(f"  - {c['reason']}")
            if c.get("diagnosis") and c.get("status") in ("differs", "inconclusive"):
                out.append(f"  - Diagnosis: {c['diagnosis']}")
        out.append("")
    return "\n".join(out) if out else "No claims recorded."


def verdict_counts(entries: Iterable[Mapping], kind: Optional[str] = None) -> dict:
    """``{status: count}`` over claim entries (of one ``kind`` if given)."""
    counts = {s: 0 for s in STATUSES}
    for c in entries:
        if kind is None or c.get("kind") == kind:
            counts[c.get("status", "not-run")] = counts.get(c.get("status", "not-run"), 0) + 1
    return counts


# ----------------------------------------------------------------------------- failed project checks
#: The one-line meaning of the project checks the notebooks record (``record["checks"]``), shown beside a
#: failed one; :func:`check_meaning` covers a name not listed here.
CHECK_MEANING = {
    "no_nan": "every recorded value is finite (no NaN or infinity)",
    "finite": "every recorded value is finite",
    "mmd_decreased": "the MMD² to the target ended below its start",
    "mmd_decreased_every_run": "the MMD² to the target ended below its start in every run",
    "weights_on_simplex": "the particles' weights are nonnegative and sum to one",
    "weak_duality": "every dual value lies below its primal value (weak duality)",
    "energy_decreased": "the energy ended below its start in every run",
    "particles_left_dirac": "the particles left the initial Dirac mass",
    "no_run_diverged": "no run was stopped by the runner's blow-up check",
    "error_decreases_from_the_start": "every run's error ended below 5 x its start + 1",
    "mass_close_to_one": "the density's mass ended within 0.1 of one",
    "spreads": "the samples spread beyond the initial second moment",
    "interaction_energy_decreased": "the interaction energy ended below its start in every run",
    "reference_mass_conserved": "the finite-volume reference conserved its mass to 1e-9",
    "kl_energy_decreased": "the variational KL estimate decreased along the flow in every run",
    "every_pair_ran": "every pair of the grid ran without diverging",
}
#: The id of the warning cell :func:`mark_failed_checks` puts at the top of an executed notebook.
FAILED_CHECKS_CELL_ID = "wgf-failed-checks"


def check_meaning(name: str) -> str:
    """The one-line meaning of the project check ``name``: :data:`CHECK_MEANING`'s, else for
    ``<scheme>_within_stated_accuracy`` and ``<scheme>_mmd_decreased`` that scheme's, else the name with spaces."""
    if name in CHECK_MEANING:
        return CHECK_MEANING[name]
    if name.endswith("_within_stated_accuracy"):
        return (f"the {name[:-len('_within_stated_accuracy')].replace('_', ' ')} scheme ended within the page's stated "
                "accuracy of the closed form")
    if name.endswith("_mmd_decreased"):
        return f"the {name[:-len('_mmd_decreased')]} scheme's MMD to the target ended below its start in every run"
    return name.replace("_", " ")


def failed_checks(record: Optional[Mapping]) -> list:
    """The names of the record's project checks that failed, in the record's order (``[]`` for no record)."""
    return [k for k, v in ((record or {}).get("checks") or {}).items() if not v]


def failed_checks_markdown(record: Optional[Mapping]) -> Optional[str]:
    """A MyST ``{warning}`` listing the record's failed project checks with their meaning; None if none failed."""
    bad = failed_checks(record)
    if not bad:
        return None
    n = len((record or {}).get("checks") or {})
    lines = [f"```{{warning}}\nThis run failed {len(bad)} of its {n} project checks (sanity checks of this "
             "compendium, not claims of the paper), so the results below may rest on a broken run:"]
    lines += [f"- `{k}`: {check_meaning(k)}" for k in bad]
    return "\n".join(lines) + "\n```"


def failed_checks_table(pages: Iterable[tuple]) -> str:
    """The report's list of failed project checks: a Markdown table of page, check and meaning over
    ``pages`` (``(link, record)`` pairs; the link is Markdown), or a line saying none failed."""
    rows = [f"| {link} | `{k}` | {_cell(check_meaning(k))} |" for link, rec in pages for k in failed_checks(rec)]
    if not rows:
        return "None: every executed page's project checks hold."
    return "\n".join(["| page | failed check | meaning |", "|---|---|---|"] + rows)


def mark_failed_checks(notebook_path, record: Optional[Mapping] = None) -> bool:
    """Put the warning of :func:`failed_checks_markdown` at the top of an executed notebook.

    The warning is a Markdown cell (id :data:`FAILED_CHECKS_CELL_ID`) right after the first cell with a
    ``# `` heading (the title), else first. An earlier warning cell is replaced, or removed when every
    check holds; the file is rewritten (tmp file + rename) only when it changes.

    Parameters
    ----------
    notebook_path : path
        The executed notebook.
    record : mapping, optional
        Its record; default :func:`read_metrics` of the notebook.

    Returns
    -------
    bool
        Whether a check failed (the warning is in the notebook).
    """
    path = Path(notebook_path)
    nb = json.loads(path.read_text())
    record = read_metrics(path) if record is None else record
    cells = nb.get("cells", [])
    kept = [c for c in cells if c.get("id") != FAILED_CHECKS_CELL_ID]
    text = failed_checks_markdown(record)
    if text is not None:
        title = next((i for i, c in enumerate(kept) if c.get("cell_type") == "markdown" and any(
            line.startswith("# ") for line in "".join(c.get("source", "")).split("\n"))), -1)
        kept.insert(title + 1, {"cell_type": "markdown", "id": FAILED_CHECKS_CELL_ID, "metadata": {},
                                "source": text})
    if kept != cells:
        nb["cells"] = kept
        tmp = path.with_name(path.name + ".checks.tmp")
        tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    return text is not None


def forest_plot(entries: Iterable[Mapping], title: str = ""):
    """One row per claim: its margin interval against zero, coloured by verdict (a matplotlib figure).

    Margins are in each claim's own units (the report's tables name them), so the x axis is
    symmetric-logarithmic around 0: the sign and the order of magnitude are what compare across
    claims. An interval unbounded on one side (one seed) runs to the axis' edge; a deterministic
    claim is a point with its numerical tolerance as a bar.
    """
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    entries = [c for c in entries if (c.get("margin") or {}).get("mean") is not None]
    colours = {"reproduced": "#1a7f37", "differs": "#cf222e", "inconclusive": "#9a6700", "not-run": "#6e7781"}
    fig, ax = plt.subplots(figsize=(10.0, 0.3 * max(len(entries), 1) + 1.6))
    finite = [abs(float(v)) for c in entries for v in (c["margin"].get("low"), c["margin"].get("high"),
                                                         c["margin"].get("mean")) if v is not None and v != 0]
    edge = 10.0 ** math.ceil(math.log10(max(finite))) if finite else 1.0
    # the linear zone around 0: the smallest magnitude shown, at most 4 decades below the edge
    lin = max(10.0 ** math.floor(math.log10(min(finite))), edge * 1e-4) if finite else edge * 1e-3
    for i, c in enumerate(entries):
        m = c["margin"]
        y = len(entries) - 1 - i
        lo = m.get("low") if m.get("low") is not None else -edge
        hi = m.get("high") if m.get("high") is not None else edge
        col = colours.get(c.get("status"), "#6e7781")
        ax.plot([lo, hi], [y, y], color=col, lw=2.2, solid_capstyle="butt")
        ax.plot([m["mean"]], [y], "o", color=col, ms=4.5)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_xscale("symlog", linthresh=lin)
    ax.set_xlim(-edge, edge)
    decades = [lin * 10.0**k for k in range(int(round(math.log10(edge / lin))) + 1)]
    ax.set_xticks([-d for d in decades[::-1]] + [0.0] + decades)
    ax.set_xticklabels([f"{-d:.0e}" for d in decades[::-1]] + ["0"] + [f"{d:.0e}" for d in decades], fontsize=7)
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_yticks(range(len(entries)))
    ax.set_yticklabels([f"{c.get('id')} ({KIND_LABEL.get(c.get('kind'), c.get('kind'))})" for c in entries][::-1],
                       fontsize=7)
    ax.set_xlabel("signed margin in each claim's own units (> 0: the claim holds); symmetric log scale")
    handles = [plt.Line2D([0], [0], color=v, lw=2.2, label=k) for k, v in colours.items() if k != "not-run"]
    ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- prose from the run
#: myst-nb's prefix of a glued (not displayed) output's mime types (``myst_nb.ext.glue.GLUE_PREFIX``).
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any, fmt: Optional[str] = None) -> Any:
    """Glue a value measured by the run for the notebook's Markdown (myst-nb), without displaying it.

    Numbers are glued as they are and formatted in the Markdown role
    (``{glue:text}`name:.3g```); strings, and numbers when ``fmt`` is given, are glued as Markdown
    text (``{glue:md}`name```), so sentences can depend on the run (``"later"`` / ``"earlier"``).
    Returns ``value``.

    The output is myst-nb's ``glue(name, obj, display=False)``, bit for bit (tested): the object's display
    formats under the ``application/papermill.record/`` prefix, with ``{"scrapbook": {"name": name,
    "mime_prefix": prefix}}`` metadata. It is written here because importing ``myst_nb.ext.glue`` imports
    ``nbformat`` and with it ``jsonschema``'s format checkers, which took 2.8 s per kernel (the grammar of
    ``rfc3987_syntax``): a tenth of a small notebook's run, for one line of output.
    """
    from IPython import get_ipython
    from IPython.core.formatters import format_display_data
    from IPython.display import Markdown
    from IPython.display import display as ipy_display

    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # 0-d tensor / numpy scalar
        value = value.item()
    if isinstance(value, str):
        obj = Markdown(value)
    elif fmt is not None:
        obj = Markdown(format(value, fmt))
    else:
        obj = value
    if get_ipython() is None:   # not in a kernel: nothing can record it (myst-nb's glue would print the bundle)
        return value
    bundle, metadata = format_display_data(obj)
    metadata["scrapbook"] = dict(name=name, mime_prefix=GLUE_PREFIX)
    ipy_display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)
    return value


#: A section marker of a prose file (:func:`prose_sections`): an HTML comment alone on its line.
_SECTION = re.compile(r"^<!--\s*section:\s*([\w-]+)\s*-->\s*$", re.M)
#: A glue role: ``{glue:text}`name:format``` or ``{glue:md}`name``` (``{glue}`name``` too).
_GLUE = re.compile(r"\{glue(?::(text|md))?\}`([^`:]+)(?::([^`]*))?`")


def prose_sections(path) -> dict:
    """The sections of a prose file: ``<!-- section: name -->`` lines start them, by name -> Markdown.

    Text before the first marker is a comment for the file's editors and is dropped. A repeated
    name raises ``ValueError``.
    """
    text = Path(path).read_text()
    parts = _SECTION.split(text)
    names = parts[1::2]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{path}: sections {dup} appear more than once")
    return {name: body.strip() for name, body in zip(names, parts[2::2])}


def fill_glue(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with every glue role replaced by its value from ``values``: ``{glue:text}`name:.3g```
    by ``format(value, ".3g")``, ``{glue:md}`name``` by ``str(value)`` (what myst-nb would show).

    A role whose name is not in ``values`` raises ``KeyError`` naming it.
    """
    def one(m):
        kind, name, fmt = m.groups()
        if name not in values:
            raise KeyError(f"{name!r} (a glue role of the prose) is not among the run's values {sorted(values)}")
        value = values[name]
        return str(value) if kind == "md" or not fmt else format(value, fmt)

    return _GLUE.sub(one, text)
