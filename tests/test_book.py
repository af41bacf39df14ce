"""End-to-end test of the book pipeline on the fixture notebook in tests/data/notebooks.

Builds a tiny book in a temporary folder (papermill at profile "ci", generated pages, Jupyter Book
HTML with the vendored JavaScript), checks the skip-if-unchanged logic, and, when Debian's
chromium + chromedriver and selenium are installed, runs the browser test on it.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_book as bb  # noqa: E402

FIXTURES = ROOT / "tests" / "data" / "notebooks"

# ~40 s on an idle 2-core CPU (one papermill run + one Jupyter Book build); under pytest-xdist one worker
# (the "book" group) runs every test of this module, so the tiny book is built once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory):
    pytest.importorskip("papermill")
    pytest.importorskip("jupyter_book")
    book = tmp_path_factory.mktemp("book")
    args = ["--profile", "ci", "--notebooks-dir", str(FIXTURES), "--book-dir", str(book)]
    try:
        from vendor_js import vendor

        vendor(bb._shared_vendor(book), quiet=True)
    except Exception as exc:  # no cache and no network: pages + execution only
        rc = bb.main(args + ["--no-html"])
        return book, rc, f"vendoring unavailable: {exc}"
    rc = bb.main(args)
    return book, rc, ""


def test_notebook_executed_with_metrics(tiny_book):
    book, rc, _ = tiny_book
    assert rc == 0
    out = book / "notebooks" / "toy" / "01_toy.ipynb"
    state = json.loads((book / "notebooks" / "toy" / "01_toy.run.json").read_text())
    assert state["status"] == "ok" and state["parameters"] == {"profile": "ci", "device": "cpu", "seed": 0}
    nb = json.loads(out.read_text())
    assert "application/vnd.jupyter.widget-state+json" in nb["metadata"]["widgets"]  # for the static controls
    timings = json.loads((book / "timings.json").read_text())
    assert timings["toy/01_toy"]["ci"]["seconds"] > 0


def test_generated_pages(tiny_book):
    book, _, _ = tiny_book
    report = (book / "report.md").read_text()
    assert "toy-decay" in report and "toy-differs" in report and "on purpose, for the report test" in report
    assert "Toy flow (pipeline fixture)" in (book / "intro.md").read_text()
    assert "notebooks/toy/01_toy" in (book / "_toc.yml").read_text()
    assert "toy/01_toy" in (book / "exec_times.md").read_text()


def test_unchanged_notebook_is_skipped(tiny_book, capsys):
    book, _, _ = tiny_book
    before = (book / "notebooks" / "toy" / "01_toy.run.json").read_text()
    rc = bb.main(["--profile", "ci", "--notebooks-dir", str(FIXTURES), "--book-dir", str(book), "--no-html"])
    assert rc == 0
    assert "unchanged, skipped" in capsys.readouterr().out
    assert (book / "notebooks" / "toy" / "01_toy.run.json").read_text() == before


def test_parallel_execution(tmp_path):
    # two notebooks, two at a time in worker processes: both executed, timed, and the caller's
    # environment left as it was
    pytest.importorskip("papermill")
    nbdir = tmp_path / "notebooks" / "toy"
    nbdir.mkdir(parents=True)
    for name in ("01_toy.ipynb", "02_toy.ipynb"):
        shutil.copy(FIXTURES / "toy" / "01_toy.ipynb", nbdir / name)
    env_before = bb.os.environ.get("OMP_NUM_THREADS")
    rc = bb.main(["--profile", "ci", "--notebooks-dir", str(tmp_path / "notebooks"), "--book-dir",
                  str(tmp_path / "book"), "--no-html", "--jobs", "2"])
    assert rc == 0 and bb.os.environ.get("OMP_NUM_THREADS") == env_before
    timings = json.loads((tmp_path / "book" / "timings.json").read_text())
    assert {k: v["ci"]["status"] for k, v in timings.items()} == {"toy/01_toy": "ok", "toy/02_toy": "ok"}
    assert bb.jobs_for(None, "cuda", 5) == 1 and bb.jobs_for(3, "cpu", 2) == 2
    with pytest.raises(SystemExit, match="--jobs"):
        bb.jobs_for(0, "cpu", 2)


def test_html_offline(tiny_book):
    book, _, why = tiny_book
    if why:
        pytest.skip(why)
    html = book / "_build" / "html"
    page = (html / "notebooks" / "toy" / "01_toy.html").read_text()
    assert "_static/vendor/mathjax/tex-chtml.js" in page and "_static/vendor/html-manager/embed-amd.js" in page
    assert "cdn.jsdelivr" not in page and "cdnjs" not in page and "maxcdn" not in page
    assert (html / "_static" / "vendor" / "html-manager" / "embed-amd.js").exists()
    assert "toy-decay" in (html / "report.html").read_text()


def test_browser(tiny_book, tmp_path):
    book, _, why = tiny_book
    if why:
        pytest.skip(why)
    pytest.importorskip("selenium")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")) or not shutil.which("chromedriver"):
        pytest.skip("chromium / chromedriver not installed")
    import browser_test

    res = browser_test.run(book / "_build" / "html", tmp_path / "shots")
    assert not res["errors"], res["errors"]
    toy = next(p for p in res["pages"] if p["label"] == "toy__01_toy")
    assert toy["slider_changed_image"] and toy["selector_changed_image"] and toy["mathjax"] > 0
    assert (tmp_path / "shots" / "landing.png").exists()


def _paged_toy(nbdir):
    """The toy notebook as a page source: a ``page`` parameter (the record's key) and a ``label``."""
    nb = json.loads((FIXTURES / "toy" / "01_toy.ipynb").read_text())
    params = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    params["source"] = "".join(params["source"]) + '\npage = "toy/src"\nlabel = "none"\n'
    last = nb["cells"][-1]
    src = "".join(last["source"])
    assert 'record_metrics("toy/01_toy"' in src
    last["source"] = src.replace('record_metrics("toy/01_toy"', "record_metrics(page").replace(
        'metrics={"ratio": ratio}', 'metrics={"ratio": ratio, "label": label}')
    (nbdir / "toy").mkdir(parents=True, exist_ok=True)
    (nbdir / "toy" / "src.ipynb").write_text(json.dumps(nb))
    shutil.copy(FIXTURES / "toy" / "01_toy.ipynb", nbdir / "toy" / "01_toy.ipynb")


PAGES_TOML = """
[pages."toy/02_a"]
source = "toy/src.ipynb"
title = "Toy page A"
figure = "Fig. 1"
parameters = {{ label = "{a}" }}

[pages."toy/03_b"]
source = "toy/src.ipynb"
title = "{title_b}"
parameters = {{ label = "b" }}
"""


def test_one_notebook_several_pages(tmp_path, capsys):
    # pages.toml runs toy/src.ipynb twice, into the pages toy/02_a and toy/03_b (src itself is no page)
    pytest.importorskip("papermill")
    from wgf_core.reporting import read_metrics

    nbdir, book = tmp_path / "notebooks", tmp_path / "book"
    _paged_toy(nbdir)
    (nbdir / "pages.toml").write_text(PAGES_TOML.format(a="a", title_b="Toy page B"))
    args = ["--profile", "ci", "--notebooks-dir", str(nbdir), "--book-dir", str(book), "--no-html", "--jobs", "1"]
    assert [(p.key, p.title) for p in bb.discover(nbdir, book)] == [
        ("toy/01_toy", "Toy flow (pipeline fixture)"), ("toy/02_a", "Toy page A"), ("toy/03_b", "Toy page B")]
    assert bb.main(args) == 0
    out = book / "notebooks" / "toy"
    assert not (out / "src.ipynb").exists()
    for name, label, title in (("02_a", "a", "Toy page A"), ("03_b", "b", "Toy page B")):
        rec = read_metrics(out / f"{name}.ipynb")
        assert rec["notebook"] == f"toy/{name}" and rec["metrics"]["label"] == label
        state = json.loads((out / f"{name}.run.json").read_text())
        assert state["status"] == "ok"
        assert state["parameters"] == {"profile": "ci", "device": "cpu", "seed": 0, "page": f"toy/{name}",
                                       "label": label}
        assert bb.notebook_header(out / f"{name}.ipynb")[0] == title  # the page's own heading
    toc = (book / "_toc.yml").read_text()
    assert "notebooks/toy/02_a" in toc and "notebooks/toy/03_b" in toc and "notebooks/toy/src" not in toc
    timings = json.loads((book / "timings.json").read_text())
    assert sorted(timings) == ["toy/01_toy", "toy/02_a", "toy/03_b"]
    intro, report = (book / "intro.md").read_text(), (book / "report.md").read_text()
    assert "Toy page A" in intro and "Fig. 1" in intro and "Toy page B" in report
    verdicts = json.loads((book / "verdicts.json").read_text())
    assert verdicts["claims"]["toy-decay"]["notebook"] in ("toy/02_a", "toy/03_b")
    capsys.readouterr()

    # unchanged: nothing runs; a new title needs no run either
    before = {n: (out / f"{n}.run.json").read_text() for n in ("02_a", "03_b")}
    (nbdir / "pages.toml").write_text(PAGES_TOML.format(a="a", title_b="Toy page B, renamed"))
    assert bb.main(args) == 0
    log = capsys.readouterr().out
    assert log.count("unchanged, skipped") == 3 and "executing" not in log.replace("executing 0", "")
    assert {n: (out / f"{n}.run.json").read_text() for n in ("02_a", "03_b")} == before
    assert bb.notebook_header(out / "03_b.ipynb")[0] == "Toy page B, renamed"
    assert read_metrics(out / "03_b.ipynb")["metrics"]["label"] == "b"

    # one page's parameters change: that page alone runs again
    (nbdir / "pages.toml").write_text(PAGES_TOML.format(a="a2", title_b="Toy page B"))
    assert bb.main(args) == 0
    log = capsys.readouterr().out
    assert "toy/02_a: executing" in log and log.count("unchanged, skipped") == 2
    assert read_metrics(out / "02_a.ipynb")["metrics"]["label"] == "a2"
    assert (out / "03_b.run.json").read_text() == before["03_b"]


@pytest.mark.parametrize("entry, message", [
    ('[pages."toy/02_a"]\nsource = "toy/nope.ipynb"\ntitle = "A"', "is not a notebook"),
    ('[pages."toy/02_a"]\nsource = "toy/src.ipynb"', "needs a title"),
    ('[pages."toy/02_a"]\nsource = "toy/src.ipynb"\ntitle = "A"\nparameters = { seed = 3 }', "without profile"),
    ('[pages."other/02_a"]\nsource = "toy/src.ipynb"\ntitle = "A"', "paper folder"),
    ('[pages."toy/01_toy"]\nsource = "toy/src.ipynb"\ntitle = "A"', "is a page itself"),
    ('[pages."toy/02_a"]\nsource = "toy/src.ipynb"\ntitle = "A"\nparams = {}', "unknown fields"),
])
def test_malformed_page_entries_are_refused(tmp_path, entry, message):
    nbdir = tmp_path / "notebooks"
    _paged_toy(nbdir)
    (nbdir / "pages.toml").write_text(entry + "\n")
    with pytest.raises(ValueError, match=message):
        bb.discover(nbdir, tmp_path / "book")


SWEEP_TOML = """
[sweeps."fast/sum"]
source = "fast/sum.ipynb"
title = "Fast sum: a sweep"
parameters = { shift = 10 }
grid = { a = [1.0, 2.0], b = [1, 3] }
seeds = 2
metrics = ["total"]
labels = ["a b + seed + shift"]
why = "Two seeds: a test."
"""


def test_a_sweep_of_the_book(tmp_path, capsys):
    """A [sweeps] entry: its runs go through the pages' runner, its source is no page, its page's table is
    the median [min, max] over the seeds of each parameter set, and a second build reruns nothing."""
    pytest.importorskip("papermill")
    nbdir, book = tmp_path / "notebooks", tmp_path / "book"
    (nbdir / "fast").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "data" / "cli_notebooks" / "fast" / "sum.ipynb", nbdir / "fast" / "sum.ipynb")
    (nbdir / "pages.toml").write_text(SWEEP_TOML)
    args = ["--profile", "ci", "--notebooks-dir", str(nbdir), "--book-dir", str(book), "--no-html", "--jobs", "2"]
    assert bb.discover(nbdir, book) == []  # the swept notebook is not a page
    assert bb.main(args) == 0
    page = (book / "sweeps" / "fast_sum.md").read_text()
    assert (book / "sweeps" / "fast_sum.png").stat().st_size > 0 and "8 of 8 runs succeeded" in page
    rows = [line for line in page.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 4
    for line in rows:  # total = a b + seed + shift over seeds 0 and 1: min a b + 10, max a b + 11
        _, _, a, b, cell, seeds, _ = [c.strip() for c in line.split("|")]
        ab = float(a) * int(b)
        assert cell == f"{ab + 10.5:.2e} [{ab + 10:.2e}, {ab + 11:.2e}]" and seeds == "2 of 2"
    toc = (book / "_toc.yml").read_text()
    assert "sweeps/fast_sum" in toc and "notebooks/fast/sum" not in toc
    timings = json.loads((book / "timings.json").read_text())
    assert timings["sweep fast/sum"]["ci"]["runs"] == 8
    capsys.readouterr()
    assert bb.main(args) == 0  # resumable: nothing to run
    assert "sweep fast/sum: 8 runs, 8 unchanged, 0 to run" in capsys.readouterr().out
    assert (book / "sweeps" / "fast_sum.md").read_text() == page


@pytest.mark.parametrize("entry, message", [
    ('source = "fast/nope.ipynb"\ngrid = { a = [1] }\nmetrics = ["total"]', "is not a notebook"),
    ('source = "fast/sum.ipynb"\ngrid = { a = [] }\nmetrics = ["total"]', "non-empty list"),
    ('source = "fast/sum.ipynb"\ngrid = { a = [1] }\nmetrics = ["total"]\nseeds = 0', "seeds must be"),
    ('source = "fast/sum.ipynb"\ngrid = { a = [1] }', "metrics"),
    ('source = "fast/sum.ipynb"\ngrid = { a = [1] }\nmetrics = ["total"]\nparameters = { a = 2 }', "swept one"),
    ('source = "fast/sum.ipynb"\ngrid = { a = [1] }\nmetrics = ["total"]\nruns = 3', "unknown fields"),
])
def test_malformed_sweep_entries_are_refused(tmp_path, entry, message):
    nbdir = tmp_path / "notebooks"
    (nbdir / "fast").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "data" / "cli_notebooks" / "fast" / "sum.ipynb", nbdir / "fast" / "sum.ipynb")
    (nbdir / "pages.toml").write_text('[sweeps."fast/sum"]\n' + entry + "\n")
    with pytest.raises(ValueError, match=message):
        bb.discover(nbdir, tmp_path / "book")


def test_speed_page_renders_the_benchmark_output_and_joins_the_toc(tmp_path):
    """The "Speed" page shows each benchmark's printed table from benchmarks/bench_speed.py's JSON, a failed
    benchmark as failed, skips absent ones, and is in the table of contents only when the page exists."""
    results = {"machine": {"cpu": "Test CPU", "cores": 2, "torch": "9.9"}, "date_utc": "2026-01-01 00:00 UTC",
               "quick": True,
               "ift": {"stdout": "generic 1.234 ms\nfused 0.432 ms\nspeed-up 2.86x\n", "speedup": 2.86},
               "riesz": {"error": "RuntimeError: boom"}}
    page = bb.render_speed(results)
    assert "# Speed" in page and "Test CPU (2 cores)" in page and "--quick" in page
    assert "## One IFT iteration" in page and "speed-up 2.86x" in page
    assert "## One Riesz particle-flow step" in page and "failed" in page and "boom" in page
    assert "## Kernel sums" not in page   # absent from the results: no section
    assert "      - file: speed" not in bb.render_toc([], tmp_path)
    (tmp_path / "speed.md").write_text(page)
    assert "      - file: speed" in bb.render_toc([], tmp_path)
