"""The ``wgf`` runner on Dask, with the fast fixture notebook (tests/data/cli_notebooks, ~1 s a run).

A 2 x 2 x 2 sweep on a 2-worker LocalCluster, resumed; a run that raises and a worker killed
mid-sweep; SIGTERM to the driver; an existing scheduler and worker started apart (``--scheduler``).
One xdist group: each test starts worker processes and they would fight for the cores.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wgf_core.cli import main
from wgf_core.cli.report import write_report
from wgf_core.cli.runner import _kernel_files

psutil = pytest.importorskip("psutil")
pytest.importorskip("distributed")
pytest.importorskip("papermill")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "cli_notebooks"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask")]


def wgf(*args):
    return main(["--notebooks-dir", str(FIXTURES), *map(str, args)])


def _no_leftovers(out: Path) -> list:
    """Every run folder holds a finished run (run.json), and no tmp file is anywhere."""
    tmp = [p for p in out.rglob("*") if ".tmp" in p.name]
    unfinished = [d for d in out.rglob("seed-*") if not (d / "run.json").exists()]
    return tmp + unfinished


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    rc = wgf("sweep", "fast/plain", "-p", "profile=ci", "-p", "a=1,2", "-p", "b=1,2", "--seeds", "0-1", "--out", out,
             "--jobs", 2, "--no-progress")
    return out, rc


def test_sweep_2x2x2_gives_8_rows(swept):
    out, rc = swept
    assert rc == 0
    rows = write_report(out)["rows"]
    assert len(rows) == 8 and {r["status"] for r in rows} == {"ok"}
    assert sorted((r["param:a"], r["param:b"], r["seed"]) for r in rows) == [
        (a, b, s) for a in (1, 2) for b in (1, 2) for s in (0, 1)]
    for r in rows:  # each run got its own parameters and seed
        assert r["metric:total"] == r["param:a"] * r["param:b"] + r["seed"]
        assert r["claim:fast-positive"] == "reproduced" and r["wgf_core_version"]
    summ = write_report(out)["summary"]
    assert len(summ) == 4 and all(s["ok"] == 2 for s in summ)
    assert not _no_leftovers(out)


def test_the_same_sweep_again_runs_nothing(swept, capsys):
    out, _ = swept
    before = {p: p.stat().st_mtime_ns for p in out.rglob("run.json")}
    rc = wgf("sweep", "fast/plain", "-p", "profile=ci", "-p", "a=1,2", "-p", "b=1,2", "--seeds", "0-1", "--out", out)
    assert rc == 0
    assert "8 already done, 0 to run" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("run.json")} == before


def _kill_first_worker(found: list, deadline: float) -> None:
    """Kill (SIGKILL) the worker process of the first kernel that shows up among our descendants."""
    me = psutil.Process()
    while time.time() < deadline:
        for p in me.children(recursive=True):
            try:
                if "ipykernel" in " ".join(p.cmdline()):
                    worker = p.parent()
                    found.append(worker.pid)
                    worker.kill()
                    return
            except psutil.Error:
                continue
        time.sleep(0.05)


def test_failures_are_isolated_and_a_killed_worker_is_retried(tmp_path):
    out = tmp_path / "runs"
    found: list = []
    killer = threading.Thread(target=_kill_first_worker, args=(found, time.time() + 120), daemon=True)
    killer.start()
    rc = wgf("sweep", "fast/plain", "-p", "profile=ci", "-p", "fail=False,True", "-p", "sleep=1", "--seeds", "0-1",
             "--out", out, "--jobs", 2, "--no-progress")
    killer.join(1)
    assert found, "no worker was killed"
    assert rc == 1  # the runs with fail=True failed
    rows = write_report(out)["rows"]
    assert len(rows) == 4
    for r in rows:
        if r["param:fail"]:
            assert r["status"] == "failed" and "failing on purpose" in r["error"]
        else:  # including the run whose worker was killed: retried once, on a fresh worker
            assert r["status"] == "ok" and r["metric:total"] == 1 + r["seed"]
    for d in out.rglob("seed-*"):
        state = json.loads((d / "run.json").read_text())
        assert (d / "01_plain.ipynb").exists()  # a failed run keeps its notebook, with the error
        assert (d / "metrics.json").exists() == (state["status"] == "ok")
    assert not _no_leftovers(out)


def test_sigterm_to_the_driver_stops_every_worker(tmp_path):
    out = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "wgf_core.cli", "--notebooks-dir", str(FIXTURES), "sweep", "fast/plain",
           "-p", "profile=ci", "-p", "sleep=0,30", "--seeds", "0-2", "--out", str(out), "--jobs", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        driver = psutil.Process(proc.pid)
        seen: dict = {}
        deadline = time.time() + 120
        while time.time() < deadline:  # until a run has finished and a slow one is executing
            for p in driver.children(recursive=True):
                seen[p.pid] = p
            slow = [p for p in seen.values() if p.is_running() and "ipykernel" in " ".join(_cmd(p))]
            if slow and any(json.loads(f.read_text())["status"] == "ok" for f in out.rglob("run.json")):
                break
            time.sleep(0.1)
        else:
            pytest.fail("no run finished in time")
        time.sleep(0.5)
        seen.update({p.pid: p for p in driver.children(recursive=True)})
        kernel_files = [f for p in seen.values() for f in _kernel_files(_cmd(p))]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    time.sleep(1)
    alive = [p for p in seen.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [" ".join(_cmd(p)) for p in alive]
    assert kernel_files and not [f for f in kernel_files if f.exists()]  # connection files and sockets removed
    finished = list(out.rglob("run.json"))
    assert finished and all(json.loads(f.read_text())["status"] == "ok" for f in finished)
    notebooks = list(out.rglob("*.ipynb"))
    assert sorted(n.parent for n in notebooks) == sorted(f.parent for f in finished)  # each finished run recorded
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def _cmd(p) -> list:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


@pytest.fixture
def scheduler(tmp_path):
    """A ``dask scheduler`` and one ``dask worker`` (one thread) started apart, on localhost."""
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command is not installed")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    sfile = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sfile)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not sfile.exists() and time.time() < deadline:
            time.sleep(0.1)
        address = json.loads(sfile.read_text())["address"]
        procs.append(subprocess.Popen([str(dask), "worker", address, "--nthreads", "1", "--no-dashboard",
                                       "--memory-limit", "0", "--no-nanny"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        yield address
    finally:  # no graceful shutdown needed: nothing runs any more
        for p in procs[::-1]:
            p.kill()
            p.wait(timeout=20)


def test_scheduler_option_uses_an_existing_cluster(scheduler, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    assert wgf("run", "fast/shifted", "-p", "profile=ci", "--seeds", "0-1", "--out", out, "--scheduler", scheduler,
               "--no-progress") == 0
    rows = write_report(out)["rows"]
    assert sorted(r["metric:total"] for r in rows) == [11.0, 12.0]  # a * b + seed + the page's shift 10
    # DASK_SCHEDULER_ADDRESS does the same; GPU runs need workers with a GPU resource
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", scheduler)
    assert wgf("run", "fast/plain", "-p", "profile=ci", "--out", out, "--no-progress") == 0
    assert len(write_report(out)["rows"]) == 3
    assert wgf("run", "fast/plain", "-p", "device=cuda", "--out", out, "--no-progress") == 2
