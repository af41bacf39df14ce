#!/usr/bin/env python3
"""Build the book: execute the notebooks, generate the report pages, render with Jupyter Book.

Steps (``make book`` runs all of them):

1. Discover the pages: every ``notebooks/<paper>/*.ipynb`` is one page (glob; names starting with
   ``_`` are skipped), except a notebook that ``notebooks/pages.toml`` executes into several pages
   (one per entry, each with its own parameters and title; see :func:`load_pages`).
2. Execute each page with papermill at ``profile`` (default ``"default"``; ``PROFILE=ci make book``)
   into ``book/notebooks/<paper>/<page>.ipynb`` (tmp file + rename), on Dask through the runner
   of the ``wgf`` command (:mod:`wgf_core.cli.runner`; a LocalCluster of one single-threaded
   worker per core, longest page first; Ctrl-C or SIGTERM stops the workers and their kernels).
   A page is skipped when its source hash, its parameters and the hash of the ``wgf_core``
   sources equal those stored in ``<page>.run.json`` beside the output from its last successful
   execution.
   Wall-clock times go to ``book/timings.json`` (per page, per profile, with the device).
3. Generate ``intro.md`` (landing page + experiment table), ``report.md`` (reproduction report
   from the metrics each executed notebook recorded, see :mod:`wgf_core.reporting`),
   ``exec_times.md``, ``references.md`` and ``_toc.yml`` (pages grouped by paper).
4. Vendor MathJax / require.js / the widget manager (``scripts/vendor_js.py``) and run
   ``jupyter-book build`` (``execute_notebooks: off``) to ``book/_build/html``.

Usage::

    python scripts/build_book.py [--profile default] [--device cpu] [--seed 0] [--only 'ift/*'] [--force]
                                 [--no-execute] [--no-html] [--jobs N] [--scheduler tcp://HOST:PORT]
                                 [--book-dir book] [--notebooks-dir notebooks]

Exit status 1 if a notebook failed (the book is still built, the failure shows in it), 130 if
interrupted (the notebooks that finished are recorded, no page is written).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

PROFILES = ("ci", "default", "paper")

from wgf_core.cli import runner  # noqa: E402
from wgf_core.cli.catalog import (  # noqa: E402,F401 - load_pages, notebook_header: this script's API
    RESERVED_PARAMETERS,
    Experiment,
    discover_pages,
    load_pages,
    notebook_header,
)
from wgf_core.cli.runner import atomic_write_text, device_label, load_json, sha256_bytes, tree_hash  # noqa: E402,F401
from wgf_core.reporting import (  # noqa: E402
    KIND_HEADING,
    KIND_LABEL,
    STATUS_LABEL,
    amendments_text,
    claims_table,
    failed_checks_table,
    forest_plot,
    mark_failed_checks,
    read_metrics,
    verdict_counts,
)

#: The papers, in book order. Directory under notebooks/ -> description.
PAPERS = {
    "ift": {
        "caption": "Interaction-Force Transport (Gladin et al., NeurIPS 2024)",
        "cite": "gladin2024ift",
        "lines": "Gradient flows of the MMD in a new geometry, the inf-convolution of Wasserstein and "
                 "(spherical) MMD tensors: particles move *and* their weights change.\n"
                 "A JKO-splitting particle algorithm (a Wasserstein step, then a QP on the simplex) "
                 "teleports the mass of stuck particles; compared with MMD flow, noisy MMD flow and WFR.",
    },
    "mmd_fdiv": {
        "caption": "MMD-regularized f-divergences (Stein et al., 2024)",
        "cite": "stein2024mmdfdiv",
        "lines": "Moreau envelopes of f-divergences in an RKHS (MMD-regularized f-divergences) give "
                 "functionals that are finite between any two measures.\n"
                 "Their Wasserstein gradient flows are computed with particles, for many entropy functions "
                 "and kernels, by solving a finite-dimensional dual problem per step.",
    },
    "riesz": {
        "caption": "Neural WGFs with Riesz kernels (Altekrüger et al., ICML 2023)",
        "cite": "altekrueger2023riesz",
        "lines": "Wasserstein gradient flows of MMDs with the Riesz kernel $-|x-y|^r$, whose flows leave "
                 "the particle setting (Dirac masses become absolutely continuous and vice versa).\n"
                 "Neural backward (JKO) and forward schemes approximate them; checked against exact "
                 "interaction-energy solutions.",
    },
    "variational": {
        "caption": "Variational WGF (Fan et al., ICML 2022)",
        "cite": "fan2022variational",
        "lines": "The JKO step for functionals like KL, generalized entropy and interaction energy is "
                 "rewritten with a variational (dual) formula so that it needs only samples.\n"
                 "A primal-dual scheme trains a transport map per step; tested on sampling, "
                 "Ornstein-Uhlenbeck, porous medium and aggregation-diffusion problems.",
    },
}

#: MyST front matter: no right-hand "Contents" sidebar, so the tables get the full width.
WIDE_PAGE = "---\nhtml_theme.sidebar_secondary.remove: true\n---\n"




# ----------------------------------------------------------------------------- helpers
def md_escape(x) -> str:
    """A value as one line of a Markdown table cell."""
    if x is None or x == "":
        return "—"
    if isinstance(x, float):
        s = f"{x:.4g}"
    elif isinstance(x, (list, tuple)):
        s = ", ".join(md_escape(v) for v in x)
    elif isinstance(x, dict):
        s = ", ".join(f"{k}: {md_escape(v)}" for k, v in x.items())
    else:
        s = str(x)
    return s.replace("\n", " ").replace("|", "\\|")


def fmt_seconds(s: Optional[float]) -> str:
    if s is None:
        return "—"
    if s < 90:
        return f"{s:.0f} s"
    return f"{s / 60:.1f} min"


@dataclass
class Notebook(Experiment):
    """One page of the book (:class:`wgf_core.cli.catalog.Experiment`) and where its output lives.

    A plain notebook is one page named after it (``parameters`` empty). A page of
    ``notebooks/pages.toml`` executes its ``source`` with ``parameters`` (its ``fixed``:
    ``page``, the page key, and the entry's own), and its title is the entry's.
    """

    output: Path = field(kw_only=True)
    state: dict = field(default_factory=dict, kw_only=True)
    record: Optional[dict] = field(default=None, kw_only=True)
    selected: bool = field(default=True, kw_only=True)
    stale: str = field(default="", kw_only=True)

    @property
    def parameters(self) -> dict:
        return self.fixed

    @property
    def docname(self) -> str:
        return f"notebooks/{self.paper}/{self.name}"

    @property
    def state_path(self) -> Path:
        return self.output.with_name(self.name + ".run.json")


def discover(notebooks_dir: Path, book_dir: Optional[Path] = None, only: Optional[str] = None) -> list[Notebook]:
    """Every page of the book (papers in :data:`PAPERS` order first, then by page name).

    A page is either a ``<paper>/<name>.ipynb`` under ``notebooks_dir`` or an entry of its
    ``pages.toml`` (:func:`load_pages`), whose source notebook is then not a page of its own
    (:func:`wgf_core.cli.catalog.discover_pages`, the pages the ``wgf`` command runs).
    ``book_dir`` (default: the repository's ``book/``) says where the executed copies live.
    """
    book_dir = ROOT / "book" if book_dir is None else book_dir
    found = [Notebook(source=e.source, paper=e.paper, name=e.name, title=e.title, figure=e.figure,
                      output=book_dir / "notebooks" / e.paper / f"{e.name}.ipynb", fixed=dict(e.fixed))
             for e in discover_pages(notebooks_dir)]
    order = {k: i for i, k in enumerate(PAPERS)}
    found.sort(key=lambda n: (order.get(n.paper, len(order)), n.paper, n.name))
    for nb in found:
        nb.state = load_json(nb.state_path, {})
        nb.selected = only is None or any(fnmatch.fnmatch(nb.key, pat.strip()) for pat in only.split(","))
    return found


# ----------------------------------------------------------------------------- execution
def page_parameters(nb: Notebook, params: dict) -> dict:
    """The parameters of one page's run: the build's (profile, device, seed), then the page's own."""
    return {**params, **nb.parameters}


def wanted_state(nb: Notebook, params: dict, core_hash: str) -> dict:
    return runner.wanted_state(nb.source, page_parameters(nb, params), core_hash)


def is_up_to_date(nb: Notebook, want: dict) -> bool:
    return runner.is_up_to_date(nb.state, want, nb.output)


def jobs_for(jobs: Optional[int], device: str, n_todo: int) -> int:
    """How many notebooks run at once: ``jobs``, else one per CPU core on the CPU and 1 on a GPU."""
    if jobs is None:
        jobs = runner.default_jobs(device)
    if jobs < 1:
        raise SystemExit(f"--jobs = {jobs} is not allowed: an integer >= 1")
    return max(1, min(jobs, n_todo))


def run_all(todo: list, params: dict, timeout: int, timings_path: Path, jobs: int,
            scheduler: Optional[str] = None, extra: Optional[list] = None) -> None:
    """Execute ``todo`` [(notebook, wanted state)] on Dask, ``jobs`` at a time, longest-running first.

    The runs go through :class:`wgf_core.cli.runner.Runner` (the ``wgf`` command's runner): a
    ``LocalCluster`` of ``jobs`` single-threaded worker processes, or the cluster at ``scheduler``.
    Longest first is by the last recorded time at this profile (unknown first), so the workers
    end together. Each kernel gets ``cpu_count // jobs`` threads (``OMP_NUM_THREADS``, read by
    torch at start; the caller's value with one job): on a small CPU, several single-threaded
    notebooks at once finish sooner than one after the other with all threads each.
    ``timings_path`` is updated as each run ends; on an interruption (Ctrl-C, SIGTERM) the
    runner stops its workers and kernels, and the runs that had ended are recorded too.
    """
    extra = list(extra or [])  # the sweeps' runs (RunSpec), on the same workers after the pages
    if not todo and not extra:
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if jobs == 1 and os.environ.get("OMP_NUM_THREADS"):
        threads = int(os.environ["OMP_NUM_THREADS"])
    print(f"  executing {len(todo)} notebook(s) and {len(extra)} sweep run(s), {jobs} at a time, {threads} "
          "thread(s) each", flush=True)
    last = load_json(timings_path, {})
    pages, before = {}, {}
    specs = []
    for nb, want in todo:
        pages[nb.key], before[nb.key] = nb, dict(nb.state)
        expected = last.get(nb.key, {}).get(params["profile"], {}).get("seconds") or 1e9
        specs.append(runner.RunSpec(key=nb.key, source=nb.source, parameters=page_parameters(nb, params),
                                    output=nb.output, state=nb.state_path, want=want, expected=float(expected),
                                    timeout=timeout))
    done = set()
    try:
        with runner.Runner(jobs=jobs, device=params.get("device", "cpu"), scheduler=scheduler,
                           threads=threads) as pool:
            quiet = {id(x) for x in extra}
            log = lambda s: None if id(s) in quiet else print(f"  {s.key}: executing ...", flush=True)  # noqa: E731
            for spec, state in pool.run(specs + extra, log=log):
                if id(spec) in quiet:
                    if state.get("status") != "ok":
                        print(f"  sweep run {spec.output.parent}: {state['status']} ({state.get('error')})", flush=True)
                    continue
                nb = pages[spec.key]
                nb.state = state
                update_timings(timings_path, nb, state)
                done.add(nb.key)
                error = state.get("error")
                print(f"  {nb.key}: {state['status']} in {state['seconds']:.1f} s" + (f" ({error})" if error else ""),
                      flush=True)
    finally:  # interrupted: record the runs that ended before their result was read
        for key, nb in pages.items():
            state = load_json(nb.state_path, {})
            if key not in done and state.get("finished_utc") and state != before[key]:
                nb.state = state
                update_timings(timings_path, nb, state)


def place_unexecuted(nb: Notebook) -> None:
    """Copy the clean notebook into the book so its page exists (marked not executed)."""
    nb.output.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(nb.source.read_text())
    data.setdefault("metadata", {}).setdefault("kernelspec", {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"})
    note = {"cell_type": "markdown", "metadata": {}, "id": "wgf-not-executed",
            "source": ["```{warning}\nThis notebook has not been executed for this build of the book "
                       "(run `make book`); its outputs are missing.\n```"]}
    data["cells"] = data.get("cells", [])[:1] + [note] + data.get("cells", [])[1:]
    atomic_write_text(nb.output, json.dumps(data, indent=1))


def set_page_title(nb: Notebook) -> None:
    """Give a page of ``pages.toml`` its own heading: the first ``# `` line of its first Markdown cell.

    Done on every build (the executed notebook is rewritten only when the heading differs), so a
    changed title needs no rerun.
    """
    if not nb.parameters or not nb.output.exists():
        return
    data = json.loads(nb.output.read_text())
    for cell in data.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        lines = "".join(cell.get("source", "")).split("\n")
        i = next((k for k, line in enumerate(lines) if line.startswith("# ")), None)
        if i is None:
            lines.insert(0, "")
            i = 0
        if lines[i] == f"# {nb.title}":
            return
        lines[i] = f"# {nb.title}"
        cell["source"] = "\n".join(lines)
        atomic_write_text(nb.output, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        return


def update_timings(path: Path, nb: Notebook, state: dict) -> None:
    db = load_json(path, {})
    db.setdefault(nb.key, {})[state["profile"]] = {
        "seconds": state["seconds"], "device": state["device"], "status": state["status"],
        "finished_utc": state["finished_utc"]}
    atomic_write_text(path, json.dumps(db, indent=1, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------- sweeps
@dataclass
class Sweep:
    """One sweep of ``notebooks/pages.toml`` (:func:`wgf_core.cli.catalog.load_sweeps`) in this build."""

    key: str
    entry: dict
    values: dict  #: parameter -> values (the build's profile and device, the fixed ones, the grid)
    seeds: list
    todo: list = field(default_factory=list)  #: RunSpec still to run
    done: list = field(default_factory=list)  #: RunSpec already run

    @property
    def docname(self) -> str:
        return "sweeps/" + self.key.replace("/", "_")

    @property
    def paper(self) -> str:
        return self.key.split("/")[0]


def plan_sweeps(notebooks_dir: Path, book_dir: Path, params: dict, timings: dict, timeout: int,
                only: Optional[str] = None) -> list[Sweep]:
    """The book's sweeps at this build's profile, device and base seed, with their runs to do and done
    (resumable: a run whose notebook, parameters and ``wgf_core`` are unchanged is not rerun)."""
    from wgf_core.cli.catalog import catalog, load_sweeps
    from wgf_core.cli.sweep import grid, plan

    entries = load_sweeps(notebooks_dir)
    if not entries:
        return []
    experiments = catalog(notebooks_dir)
    out = []
    for key, entry in entries.items():
        if only is not None and not any(fnmatch.fnmatch(key, pat.strip()) for pat in only.split(",")):
            continue
        exp = experiments[f"{entry['source'].parent.name}/{entry['source'].stem}"]
        values = {"profile": [params["profile"]], "device": [params["device"]],
                  **{k: [v] for k, v in entry["parameters"].items()}, **entry["grid"]}
        seeds = [params["seed"] + i for i in range(entry["seeds"])]
        sw = Sweep(key, entry, values, seeds)
        sw.todo, sw.done = plan(exp, grid(values), seeds, book_dir / "sweeps" / "runs", timeout=timeout)
        expected = timings.get(f"sweep {key}", {}).get(params["profile"], {}).get("seconds_per_run") or 0.0
        for spec in sw.todo:
            spec.expected = float(expected)
        out.append(sw)
    return out


def sweep_rows(sw: Sweep) -> list[dict]:
    """The report rows (:func:`wgf_core.cli.report.run_row`) of this build's runs of ``sw``."""
    from wgf_core.cli.report import run_row

    rows = []
    for spec in sw.done + sw.todo:
        state = spec.load_state()
        record = load_json(spec.metrics, None) if spec.metrics and state.get("status") == "ok" else None
        rows.append(run_row(state, record) if state else {"status": "not run", "seed": spec.info.get("seed")})
    return rows


def render_sweep(sw: Sweep, rows: list[dict], book_dir: Path) -> str:
    """The sweep's page: what ran, a figure of each metric per parameter set (a dot per seed, the floor
    as a mark) and a table of median [min, max] over the seeds; every number from the runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from wgf_core.plotting import seed_dots

    e = sw.entry
    swept = list(e["grid"])
    sets, by_set = [], {}
    for r in rows:
        label = ", ".join(f"{k}={r.get(f'param:{k}')}" for k in swept)
        if label not in by_set:
            sets.append(label)
            by_set[label] = []
        by_set[label].append(r)
    ok = [r for r in rows if r.get("status") == "ok"]
    secs = [float(r["seconds"]) for r in ok if r.get("seconds") is not None]

    def vals(label, name):
        return [float(r[f"metric:{name}"]) for r in by_set[label] if r.get("status") == "ok"
                and isinstance(r.get(f"metric:{name}"), (int, float))]

    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(sets) + 2), 3.8))
    width = 0.6 / max(1, len(e["metrics"]))
    for i, (name, lab) in enumerate(zip(e["metrics"], e["labels"])):
        off = (i - (len(e["metrics"]) - 1) / 2) * width
        floors = [vals(label, e["floor"]) for label in sets] if e.get("floor") and i == 0 else None
        seed_dots(ax, range(len(sets)), [vals(label, name) for label in sets], label=lab, offset=off,
                  color=f"C{i}", floors=floors, floor_label="noise floor" if floors else None, log=True)
    ax.set_xticks(range(len(sets)))
    ax.set_xticklabels([str(k + 1) for k in range(len(sets))])
    ax.set_xlabel("parameter set (numbered as in the table)")
    ax.set_ylabel(", ".join(e["metrics"]) if len(e["metrics"]) < 2 else "final value (log scale)")
    ax.set_title(f"{sw.key}: one dot per seed ({len(sw.seeds)} seeds)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    png = book_dir / "sweeps" / (sw.docname.split("/")[1] + ".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    tmp = png.with_name(png.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, png)

    def cell(v):
        return "—" if not v else f"{np.median(v):.2e} [{min(v):.2e}, {max(v):.2e}]"

    fixed = ", ".join(f"`{k} = {v[0]!r}`" for k, v in sw.values.items() if k not in e["grid"])
    runs = f"{len(ok)} of {len(rows)} runs succeeded"
    out = [WIDE_PAGE, f"# {e['title']}", "",
           f"A sweep of `notebooks/{e['source'].parent.name}/{e['source'].name}` run by this build through the "
           f"`wgf` command's runner (`notebooks/pages.toml`, `[sweeps.\"{sw.key}\"]`): every combination of "
           + ", ".join(f"`{k}` in {{{', '.join(map(str, v))}}}" for k, v in e["grid"].items())
           + f", with {fixed}, for seeds {', '.join(map(str, sw.seeds))}. {runs}"
           + (f"; a run took {np.median(secs):.1f} s (median; {min(secs):.1f} to {max(secs):.1f} s)." if secs else "."),
           "", e["why"], "",
           "It decides no verdict: the IFT pages' verdicts run at the convention registered in the claim "
           "registry. To rerun it elsewhere, or with more seeds:", "",
           "```bash",
           f"wgf sweep {sw.key} " + " ".join(f"-p {k}={','.join(map(str, v))}" for k, v in sw.values.items())
           + f" --seeds {sw.seeds[0]}-{sw.seeds[-1]} --out runs && wgf report runs",
           "```", "",
           f"![{sw.key}]({png.name})", "",
           "| # | " + " | ".join(f"`{k}`" for k in swept) + " | " + " | ".join(e["labels"])
           + (" | noise floor" if e.get("floor") else "") + " | seeds ok |",
           "|---|" + "---|" * (len(swept) + len(e["metrics"]) + (2 if e.get("floor") else 1))]
    for k, label in enumerate(sets):
        first = by_set[label][0]
        n_ok = sum(r.get("status") == "ok" for r in by_set[label])
        out.append(f"| {k + 1} | " + " | ".join(md_escape(first.get(f"param:{p}")) for p in swept) + " | "
                   + " | ".join(cell(vals(label, m)) for m in e["metrics"])
                   + (f" | {cell(vals(label, e['floor']))}" if e.get("floor") else "")
                   + f" | {n_ok} of {len(by_set[label])} |")
    out += ["", "Each cell: median [min, max] over the seeds of the run's record.", ""]
    return "\n".join(out)


def write_sweeps(sweeps: list[Sweep], book_dir: Path, timings_path: Path, profile: str) -> None:
    """Each sweep's page, and its total and per-run seconds in ``timings_path`` (key ``sweep <key>``)."""
    for sw in sweeps:
        rows = sweep_rows(sw)
        atomic_write_text(book_dir / f"{sw.docname}.md", render_sweep(sw, rows, book_dir))
        secs = [float(r["seconds"]) for r in rows if r.get("status") == "ok" and r.get("seconds") is not None]
        if secs and sw.todo:
            db = load_json(timings_path, {})
            db.setdefault(f"sweep {sw.key}", {})[profile] = {
                "seconds": round(sum(secs), 2), "seconds_per_run": round(sum(secs) / len(secs), 2), "runs": len(secs),
                "device": device_label(sw.values["device"][0]), "status": "ok" if len(secs) == len(rows) else "failed",
                "finished_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
            atomic_write_text(timings_path, json.dumps(db, indent=1, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------- pages
#: Sections of notebooks that are not one paper's (listed after the papers, not among them in the intro).
SECTIONS = {
    "api": {"caption": "One API: energies x schemes (this compendium)", "cite": None,
            "lines": "Pairs of energies and schemes that no single paper ran, on the one runner of wgf_core."},
}


def paper_info(paper: str) -> dict:
    return PAPERS.get(paper) or SECTIONS.get(paper) or {"caption": paper, "cite": None, "lines": ""}


def claims_summary(nb: Notebook) -> str:
    if nb.state.get("status") == "failed":
        return "✗ failed"
    if nb.record is None:
        return "– not executed"
    parts = []
    for kind in ("paper", "reading"):
        claims = [c for c in nb.record.get("claims", []) if c.get("kind") == kind]
        if claims:
            counts = verdict_counts(claims)
            s = f"{kind}: {counts['reproduced']}/{len(claims)} reproduced"
            if counts["inconclusive"]:
                s += f", {counts['inconclusive']} inconclusive"
            parts.append(s)
    s = "; ".join(parts) or "no paper claim"
    bad_checks = [k for k, v in nb.record.get("checks", {}).items() if not v]
    if bad_checks:
        s += f"; checks failed: {', '.join(bad_checks)}"
    return s


def time_cell(timings: dict, nb: Notebook, profile: str, gpu) -> str:
    """Wall-clock time of ``nb`` at ``profile``; ``gpu=None``: either device, named in the cell."""
    t = timings.get(nb.key, {}).get(profile)
    if not t or t.get("status") != "ok":
        return "—"
    is_gpu = str(t.get("device", "")).startswith("GPU")
    if gpu is None:
        return f"{fmt_seconds(t.get('seconds'))} ({'GPU' if is_gpu else 'CPU'})"
    if is_gpu != gpu:
        return "—"
    return fmt_seconds(t.get("seconds"))


def render_intro(nbs: list[Notebook], timings: dict, profile: str) -> str:
    out = [WIDE_PAGE, "# Wasserstein gradient flows: a reproducibility compendium", "",
           "Four papers on Wasserstein gradient flows (WGFs), reproduced with one tested library "
           "(`wgf_core`) and one parameterized notebook per experiment. Every figure in this book was "
           f"produced by the notebook it appears in, executed by `make book` at `profile=\"{profile}\"` "
           "on a CPU; the [reproduction report](report.md) puts each paper's claim beside our number.", "",
           "```{admonition} Reduced sizes\n:class: note\n"
           "The book is built on a CPU at reduced size (`profile=\"default\"`). "
           "`profile=\"paper\"` reruns a notebook at the paper's sizes, on a GPU where it needs one.\n```",
           "", "## The papers", ""]
    for paper, info in PAPERS.items():
        cite = f" {{cite}}`{info['cite']}`" if info.get("cite") else ""
        l1, _, l2 = info["lines"].partition("\n")
        out += [f"**{info['caption']}**{cite}. {l1}", f"{l2}", ""]
    out += ["## Experiments", "",
            "Grouped by paper. Times: wall-clock per profile as measured by `make book` "
            "(— : not measured on that hardware yet); status: how many of the notebook's paper claims and "
            "readings are reproduced at the profile the book was built with (details in the "
            "[report](report.md)).", ""]
    for paper in dict.fromkeys(nb.paper for nb in nbs):
        out += [f"### {paper_info(paper)['caption']}", "",
                "| notebook | reproduces | CPU `ci` | CPU `default` | `paper` (device) | status |",
                "|---|---|---|---|---|---|"]
        for nb in (n for n in nbs if n.paper == paper):
            out.append("| " + " | ".join([
                f"{{doc}}`{md_escape(nb.title)} <{nb.docname}>`", md_escape(nb.figure or "—"),
                time_cell(timings, nb, "ci", False), time_cell(timings, nb, "default", False),
                time_cell(timings, nb, "paper", None), md_escape(claims_summary(nb))]) + " |")
        out.append("")
    if not nbs:
        out += ["No notebooks yet.", ""]
    out += ["Per-notebook times with dates and devices: [execution times](exec_times.md).", "",
            "## Rerun an experiment", "",
            "Every notebook is a papermill-parameterized script. From the repository root:", "",
            "```bash",
            "make book                     # execute all notebooks (profile=default) and build this book",
            "make test                     # unit tests + every notebook at profile=ci",
            ".venv/bin/papermill notebooks/ift/03_mixture_100d.ipynb out.ipynb -p profile paper -p device cuda",
            ".venv/bin/papermill notebooks/ift/01_particles_2d.ipynb out.ipynb -p target mixture  # page ift/02_mixture_2d",
            "```", "",
            "## Explore live", "",
            "In this static book, the frame sliders, animations and setting selectors work without a "
            "kernel. Each notebook also has a *live panel* that reruns a small flow with the parameters "
            "you choose: open the notebook in Jupyter (`.venv/bin/jupyter lab notebooks/`) and run it.", "",
            "## More", "",
            "- [Reproduction report](report.md): each claim, the paper's value, ours, its margin interval over "
            "the seeds and its verdict (reproduced / differs / inconclusive).",
            "- [Execution times](exec_times.md) per notebook and profile.",
            "- [Conventions](conventions.md): normalisations the papers leave open.",
            "- [References](references.md).", ""]
    return "\n".join(out)


def _counts_line(entries: list, kind: str) -> str:
    c = verdict_counts(entries)
    return (f"{KIND_LABEL[kind].capitalize()}s: {len(entries)} — {c['reproduced']} reproduced, {c['differs']} differ, "
            f"{c['inconclusive']} inconclusive" + (f", {c['not-run']} not run" if c["not-run"] else "") + ".")


def write_forest_plots(nbs: list[Notebook], book_dir: Path) -> dict:
    """One forest plot per paper (``book/forest_<paper>.png``); returns ``{paper: file name}``."""
    import matplotlib.pyplot as plt

    out = {}
    for paper in dict.fromkeys(nb.paper for nb in nbs):
        entries = [c for nb in nbs if nb.paper == paper and nb.record for c in nb.record.get("claims", [])]
        entries.sort(key=lambda c: ("paper", "reading", "check").index(c.get("kind", "check")))
        if not entries:
            continue
        fig = forest_plot(entries, title=f"{paper_info(paper)['caption']}: margin interval of every claim")
        name = f"forest_{paper}.png"
        tmp = book_dir / f".{name}.tmp.png"
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        os.replace(tmp, book_dir / name)
        out[paper] = name
    return out


def render_report(nbs: list[Notebook], profile: str, forests: Optional[dict] = None) -> str:
    from wgf_core.claims.lock import load_amendments

    amendments = load_amendments()
    out = [WIDE_PAGE, "# Reproduction report", "",
           "Generated by `scripts/build_book.py` from the record each notebook leaves when it is executed "
           "(`wgf_core.reporting.record_metrics`); nothing on this page is typed by hand. "
           f"This build executed the notebooks at `profile=\"{profile}\"`; each claim says the configuration "
           "it ran at: the paper's, or exactly what changed.", "",
           "Each claim is registered in `wgf_core/claims/<paper>.py` and locked in `wgf_core/claims/lock.json` "
           "(`wgf claims check`): its words and where they stand, its criterion as a signed margin (positive: the "
           "claim holds), its tolerance with the reason, and its seed plan. A change after registration is an "
           "amendment, dated, with its reason and whether results had been seen; amendments are shown beside "
           "their claim, including those backfilled from the history before the lock existed. "
           "A claim that depends on random draws is decided by the interval rule: a two-sided t interval of the "
           "mean margin over the seeds, at 95 % split evenly over the looks its plan allows; **reproduced** if "
           "the interval lies above 0, **differs** if below, **inconclusive** otherwise. Extra seeds are added "
           "only while a claim is inconclusive, as its plan allows (`ci` never extends). A deterministic claim "
           "is decided on one run; a margin inside its numerical tolerance is inconclusive. See the "
           "[conventions](conventions.md), *Claims and verdicts*.", "",
           "Kinds: a **paper claim** rests on the paper's own words, verbatim in the source named; a "
           "**reading** is this project's reading of a theorem, figure or script of the paper; a **project "
           "check** is an acceptance check of this compendium. They are counted apart.", ""]
    entries = {k: [] for k in KIND_HEADING}
    not_run = 0
    body = []
    for paper in dict.fromkeys(nb.paper for nb in nbs):
        info = paper_info(paper)
        body += [f"## {info['caption']}", ""]
        if info.get("cite"):
            body += [f"Paper: {{cite}}`{info['cite']}`.", ""]
        if forests and paper in forests:
            body += [f"![Margin intervals of every claim of this paper, coloured by verdict]({forests[paper]})", ""]
        for nb in (n for n in nbs if n.paper == paper):
            body += [f"### {{doc}}`{md_escape(nb.title)} <{nb.docname}>`", ""]
            rec = nb.record
            if rec is None or nb.state.get("status") != "ok":
                why = ("it failed: " + nb.state.get("error", "")) if nb.state.get("status") == "failed" else \
                    "it has not been executed for this build"
                body += [f"{STATUS_LABEL['not-run']}: no claims to report, {md_escape(why)}.", ""]
                not_run += 1
                continue
            when = nb.state.get("finished_utc", "")
            body += [f"Executed at `profile=\"{rec.get('profile')}\"`, base seed {rec.get('seed', '?')}, on "
                     f"{nb.state.get('device', '?')}, {when}, in {fmt_seconds(nb.state.get('seconds'))}."
                     + (f" **Stale:** {nb.stale} (rerun `make book`)." if nb.stale else ""), ""]
            claims = rec.get("claims", [])
            for kind, heading in KIND_HEADING.items():
                sel = [c for c in claims if c.get("kind") == kind]
                entries[kind] += sel
                if sel:
                    body += [f"**{heading}**", "", claims_table(sel, amendments), ""]
            if not claims:
                body += ["No claim is decided here.", ""]
            checks = rec.get("checks", {})
            if checks:
                bad = [k for k, v in checks.items() if not v]
                body += [f"Sanity checks ({len(checks)}): " +
                         ("all hold." if not bad else f"**failed: {', '.join(bad)}**"), ""]
    out += ["**" + " ".join(_counts_line(entries[k], k) for k in KIND_HEADING)
            + f" {not_run} notebooks not executed.**", ""]
    glob = [a for a in amendments if a.get("claim") == "*"]
    if glob:
        out += ["Amendments of every claim: " + " ".join(amendments_text("*", glob)), ""]
    if not nbs:
        out += ["No notebooks yet.", ""]
    out += ["## Failed checks", "", "The project checks that failed, per executed page (each such page shows them "
            "in a warning at its top).", "",
            failed_checks_table((f"{{doc}}`{md_escape(nb.title)} <{nb.docname}>`", nb.record) for nb in nbs
                                if nb.record is not None and nb.state.get("status") == "ok"), ""]
    out += body
    return "\n".join(out)


def render_exec_times(nbs: list[Notebook], timings: dict) -> str:
    out = [WIDE_PAGE, "# Execution times", "",
           "Wall-clock time of each notebook as executed by `scripts/build_book.py` (papermill), per "
           "profile, with the device it ran on. Recorded in `book/timings.json`; a profile not yet run "
           "shows —. The book itself is built at `default`; `ci` is what the tests run.", "",
           "| notebook | " + " | ".join(f"`{p}`" for p in PROFILES) + " |",
           "|---|" + "---|" * len(PROFILES)]
    tot = {p: 0.0 for p in PROFILES}
    for nb in nbs:
        cells = []
        for p in PROFILES:
            t = timings.get(nb.key, {}).get(p)
            if not t:
                cells.append("—")
                continue
            tot[p] += t.get("seconds", 0.0) if t.get("status") == "ok" else 0.0
            flag = "" if t.get("status") == "ok" else f" ({t.get('status')})"
            cells.append(f"{fmt_seconds(t.get('seconds'))} on {t.get('device', '?')}{flag}, {t.get('finished_utc', '')}")
        out.append(f"| {{doc}}`{md_escape(nb.key)} <{nb.docname}>` | " + " | ".join(cells) + " |")
    out.append("| **total** | " + " | ".join(fmt_seconds(tot[p]) if tot[p] else "—" for p in PROFILES) + " |")
    out += ["", f"Machine of this build: {platform.machine()}, {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}.", ""]
    return "\n".join(out)


#: The output of ``benchmarks/bench_speed.py``; when present, the book gets a "Speed" page from it.
SPEED_RESULTS = ROOT / "benchmarks" / "results" / "speed.json"

SPEED_SECTIONS = (
    ("kernel_sums", "Kernel sums", "`python benchmarks/bench_kernel_sums.py`: value and gradient sums "
     "over all pairs, per backend, size and thread count; the ratio is to the blocked torch path (the "
     "reference kept inside the script)."),
    ("ift", "One IFT iteration", "`python benchmarks/bench_ift.py --single`: one run of the 2-D Gaussian "
     "experiment, n = 100, one thread; the generic path against the fused iteration "
     "`IFT(backend=\"numba\")` (the book's IFT runs up to d = 8, `backend=\"auto\"`)."),
    ("variational_refit", "One variational JKO step (OU, default configuration)",
     "`python benchmarks/bench_variational.py --refit`: the closed-form refit of the Gaussian reference and "
     "one multi-right-hand-side solve in its density, against the previous path (push + fit of the "
     "subsample, one solve per point), kept in the script."),
    ("neural", "One step of the Riesz neural schemes", "`python benchmarks/bench_neural.py`: the paper's "
     "interaction-energy configuration (N = 2000, 64 x 2 network, batch 100), one thread; the default path "
     "(the book's: the network's passes written out, autograd's updates bit for bit) and the network trained in "
     "numba (`backend=\"numba\"`, equal to round-off) against the previous path (torch sums, the energy's value "
     "at every iteration, per-tensor Adam), kept in the script."),
    ("riesz", "One Riesz particle-flow step", "`python benchmarks/bench_riesz.py`: N = M points, r = 1, "
     "float32; the ratio is to the blocked torch path (the default before numba; the book's runs now take "
     "`numba (default)`)."),
)


def render_speed(results: dict) -> str:
    """The "Speed" page from ``benchmarks/bench_speed.py``'s JSON: each benchmark's table as it printed it."""
    m = results.get("machine", {})
    out = [WIDE_PAGE, "# Speed", "",
           f"Measured by `python benchmarks/bench_speed.py{' --quick' if results.get('quick') else ''}` on "
           f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores), torch {m.get('torch', '?')}, "
           f"{results.get('date_utc', '?')}. Every number below is that run's output "
           "(`benchmarks/results/speed.json`); timings on a shared machine vary, so compare within a table.", ""]
    for key, title, what in SPEED_SECTIONS:
        r = results.get(key)
        if not isinstance(r, dict):
            continue
        out += [f"## {title}", "", what, ""]
        if "error" in r:
            out += [f"This benchmark failed: `{md_escape(r['error'])}`.", ""]
            continue
        out += ["```text", r.get("stdout", "").rstrip(), "```", ""]
    return "\n".join(out)


def render_references() -> str:
    return "# References\n\n```{bibliography}\n:all:\n```\n"


def render_toc(nbs: list[Notebook], book_dir: Path, sweeps: tuple = ()) -> str:
    lines = ["# Generated by scripts/build_book.py: pages grouped by paper.", "format: jb-book", "root: intro",
             "parts:"]
    for paper in dict.fromkeys([nb.paper for nb in nbs] + [sw.paper for sw in sweeps]):
        lines += [f"  - caption: \"{paper_info(paper)['caption']}\"", "    chapters:"]
        lines += [f"      - file: {nb.docname}" for nb in nbs if nb.paper == paper]
        lines += [f"      - file: {sw.docname}" for sw in sweeps if sw.paper == paper]
    lines += ["  - caption: About", "    chapters:", "      - file: report", "      - file: exec_times"]
    if (book_dir / "speed.md").exists():
        lines.append("      - file: speed")
    if (book_dir / "conventions.md").exists():
        lines.append("      - file: conventions")
    lines.append("      - file: references")
    return "\n".join(lines) + "\n"


def write_pages(nbs: list[Notebook], book_dir: Path, timings: dict, profile: str, sweeps: tuple = ()) -> None:

    for nb in nbs:
        nb.record = read_metrics(nb.output) if nb.output.exists() and nb.state.get("status") == "ok" else None
        if nb.record is not None:  # the warning at the top of a page whose checks fail, from its record
            mark_failed_checks(nb.output, nb.record)
    atomic_write_text(book_dir / "intro.md", render_intro(nbs, timings, profile))
    atomic_write_text(book_dir / "report.md", render_report(nbs, profile, write_forest_plots(nbs, book_dir)))
    atomic_write_text(book_dir / "exec_times.md", render_exec_times(nbs, timings))
    atomic_write_text(book_dir / "references.md", render_references())
    speed = load_json(SPEED_RESULTS, None) if SPEED_RESULTS.exists() else None
    if speed:
        atomic_write_text(book_dir / "speed.md", render_speed(speed))
    elif (book_dir / "speed.md").exists():
        (book_dir / "speed.md").unlink()
    atomic_write_text(book_dir / "_toc.yml", render_toc(nbs, book_dir, sweeps))
    atomic_write_text(book_dir / "verdicts.json", json.dumps(verdicts(nbs, profile), indent=1) + "\n")


def verdicts(nbs: list[Notebook], profile: str) -> dict:
    """This build's verdict per claim id (seeds, margins, interval, diagnosis), for comparing builds."""
    out = {"profile": profile, "seeds": sorted({nb.record.get("seed") for nb in nbs if nb.record}), "claims": {}}
    for nb in nbs:
        for c in (nb.record or {}).get("claims", []):
            e = {k: c.get(k) for k in ("kind", "status", "seeds", "base_seed", "look", "looks", "margin", "min",
                                       "median", "max", "diagnosis")}
            e["margins"] = [s.get("margin") for s in c.get("per_seed", [])]
            e["notebook"] = nb.key
            out["claims"][c["id"]] = e
    return out


#: Two verdicts that contradict each other (an inconclusive on one side is not a reversal).
REVERSAL = {frozenset(("reproduced", "differs"))}


def compare_verdicts(a: dict, b: dict) -> dict:
    """Reversals (reproduced in one build, differs in the other), inconclusive toggles, and the rest.

    Returns
    -------
    dict
        ``{"reversals": [...], "toggles": [...], "absent": [...]}``, one line per claim.
    """
    out = {"reversals": [], "toggles": [], "absent": []}
    for cid in sorted(set(a["claims"]) | set(b["claims"])):
        sa = a["claims"].get(cid, {}).get("status", "absent")
        sb = b["claims"].get(cid, {}).get("status", "absent")
        if sa == sb:
            continue
        line = f"{cid}: {sa} vs {sb}"
        if frozenset((sa, sb)) in REVERSAL:
            out["reversals"].append(line)
        elif "absent" in (sa, sb):
            out["absent"].append(line)
        else:
            out["toggles"].append(line)
    return out


# ----------------------------------------------------------------------------- html
STATIC_FILES = ("_config.yml", "references.bib", "conventions.md", "_assets")


def prepare_book_dir(book_dir: Path) -> None:
    """When building outside ``book/`` (tests), copy the hand-written book files there."""
    src = ROOT / "book"
    if book_dir.resolve() == src.resolve():
        return
    book_dir.mkdir(parents=True, exist_ok=True)
    for f in STATIC_FILES:
        if (src / f).is_dir():
            shutil.copytree(src / f, book_dir / f, dirs_exist_ok=True)
        elif (src / f).exists():
            shutil.copy2(src / f, book_dir / f)


def build_html(book_dir: Path, log=print) -> None:
    from vendor_js import vendor

    t0 = time.perf_counter()
    vendor(book_dir / "_vendor" if book_dir == (ROOT / "book").resolve() else _shared_vendor(book_dir), quiet=True)
    log(f"vendored JavaScript in {time.perf_counter() - t0:.1f} s")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(book_dir), "--builder", "html"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        log(res.stdout[-4000:])
        log(res.stderr[-4000:])
        raise RuntimeError(f"jupyter-book build failed ({res.returncode})")
    warnings = [l for l in (res.stdout + res.stderr).splitlines() if "WARNING" in l]
    for w in warnings[:20]:
        log("  " + w)
    log(f"jupyter-book: {book_dir / '_build' / 'html' / 'index.html'} in {time.perf_counter() - t0:.1f} s "
        f"({len(warnings)} warnings)")


def _shared_vendor(book_dir: Path) -> Path:
    """Vendor into ``book_dir/_vendor`` reusing the repository's tarball cache (tests build elsewhere)."""
    cache = ROOT / "book" / "_vendor" / "cache"
    dst = book_dir / "_vendor"
    if cache.exists() and not (dst / "cache").exists():
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copytree(cache, dst / "cache")
    return dst


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Execute the notebooks and build the book.")
    ap.add_argument("--profile", default=os.environ.get("PROFILE") or "default", choices=PROFILES)
    ap.add_argument("--device", default=os.environ.get("DEVICE") or "cpu")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SEED") or 0),
                    help="base seed passed to every notebook's `seed` parameter (env SEED); every ensemble "
                         "of seeds starts there, so another base seed reruns every claim on other draws")
    ap.add_argument("--only", default=None, help="comma-separated globs on paper/name, e.g. 'ift/*'")
    ap.add_argument("--force", action="store_true", help="re-execute even if nothing changed")
    ap.add_argument("--no-execute", action="store_true", help="only regenerate pages and HTML")
    ap.add_argument("--no-html", action="store_true", help="skip the Jupyter Book build")
    ap.add_argument("--timeout", type=int, default=3600, help="per-cell timeout (s)")
    ap.add_argument("--jobs", type=int, default=None,
                    help="notebooks executed at once, each kernel with cpu_count/jobs torch threads "
                         "(default: cpu_count on the CPU, 1 with a GPU)")
    ap.add_argument("--scheduler", default=None,
                    help="execute on the Dask cluster at this address (default: DASK_SCHEDULER_ADDRESS, else a "
                         "LocalCluster of --jobs workers)")
    ap.add_argument("--book-dir", type=Path, default=ROOT / "book")
    ap.add_argument("--notebooks-dir", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--timings", type=Path, default=None, help="default: <book-dir>/timings.json")
    args = ap.parse_args(argv)

    book_dir = args.book_dir.resolve()
    timings_path = args.timings or book_dir / "timings.json"
    prepare_book_dir(book_dir)
    os.environ.setdefault("WGF_NO_PROGRESS", "1")  # no tqdm bars in the book's outputs
    os.environ.pop("MPLBACKEND", None)  # the kernel must use the inline backend
    nbs = discover(args.notebooks_dir.resolve(), book_dir, args.only)
    print(f"{len(nbs)} pages under {args.notebooks_dir}; profile={args.profile} device={args.device} "
          f"seed={args.seed}")
    if args.seed < 0:
        raise SystemExit(f"--seed = {args.seed} is not allowed: an integer >= 0")
    params = {"profile": args.profile, "device": args.device, "seed": args.seed}
    core_hash = tree_hash(ROOT / "wgf_core")
    failed = []
    t_all = time.perf_counter()
    todo = []
    wants = {nb.key: wanted_state(nb, params, core_hash) for nb in nbs}
    for nb in nbs:
        want = wants[nb.key]
        if args.no_execute or not nb.selected:
            pass
        elif not args.force and is_up_to_date(nb, want):
            print(f"  {nb.key}: unchanged, skipped (last run {nb.state.get('seconds')} s)")
        else:
            todo.append((nb, want))
    sweeps = plan_sweeps(args.notebooks_dir.resolve(), book_dir, params, load_json(timings_path, {}), args.timeout,
                         args.only)
    extra = [] if args.no_execute else [spec for sw in sweeps for spec in sw.todo]
    for sw in sweeps:
        print(f"  sweep {sw.key}: {len(sw.todo) + len(sw.done)} runs, {len(sw.done)} unchanged, {len(sw.todo)} to run")
    try:
        run_all(todo, params, args.timeout, timings_path, jobs_for(args.jobs, args.device, len(todo) + len(extra)),
                args.scheduler, extra)
    except KeyboardInterrupt:
        print("interrupted: the workers are stopped; the notebooks that finished are in "
              f"{timings_path.name}", file=sys.stderr)
        return 130
    for nb in nbs:
        want = wants[nb.key]
        if nb.state.get("status") == "failed":
            failed.append(nb.key)
        if not nb.output.exists():
            place_unexecuted(nb)
        elif nb.state.get("status") == "ok" and any(nb.state.get(k) != v for k, v in want.items()):
            changed = [k.replace("_sha256", "") for k, v in want.items() if nb.state.get(k) != v]
            nb.stale = f"the shown output predates a change of {', '.join(changed)}"
        set_page_title(nb)
    print(f"notebooks done in {time.perf_counter() - t_all:.1f} s")
    write_sweeps(sweeps, book_dir, timings_path, args.profile)
    if not args.no_execute:
        failed += [f"sweep {sw.key}" for sw in sweeps if any(s.load_state().get("status") != "ok" for s in sw.todo)]
    write_pages(nbs, book_dir, load_json(timings_path, {}), args.profile, sweeps)
    if not args.no_html:
        build_html(book_dir)
    if failed:
        print(f"FAILED notebooks: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
