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
