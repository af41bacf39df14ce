"""Execute notebooks on Dask: one papermill run per task, resumable, isolated, interruptible.

A :class:`RunSpec` says what one run executes (a notebook and its injected parameters) and where
it writes: the executed notebook, its metrics record (``metrics.json``, optional) and its state
(``run.json``), each written to a tmp file and renamed (``os.replace``), the state last. The
state holds the *wanted* hashes (:func:`wanted_state`: the notebook source, the parameters, the
``wgf_core`` sources), so a run whose state says ``ok`` with the same hashes is up to date
(:func:`is_up_to_date`) and is skipped by the callers.

:class:`Runner` owns the Dask side: a ``LocalCluster`` (one single-threaded worker process per
job: papermill changes the working directory, which is not thread-safe) or a client of an
existing scheduler. :meth:`Runner.run` submits the runs longest-expected first and yields each
``(spec, state)`` as it completes. A run that raises is recorded ``failed`` with its error and
its (partial) notebook; a worker that dies is retried once on another worker
(``distributed.scheduler.allowed-failures = 1``), then recorded ``failed``. Leaving the runner
(normally, on an error, on Ctrl-C or on SIGTERM, which it turns into ``KeyboardInterrupt``)
cancels what is pending, closes the cluster, terminates every process it started (workers and
their papermill kernels, which would otherwise be re-parented and run on) and deletes the tmp
files of the runs cut off.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

__all__ = ["RunSpec", "Runner", "ClusterError", "sha256_bytes", "tree_hash", "core_hash", "atomic_write_text", "load_json",
           "device_label", "wanted_state", "is_up_to_date", "kernel_manager_class", "execute_run", "execute_many",
           "default_jobs"]


# ----------------------------------------------------------------------------- files and hashes
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_hash(root: Path, pattern: str = "*.py") -> str:
    """SHA-256 over the relative paths and contents of every file matching ``pattern``."""
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob(pattern)):
        if "__pycache__" in p.parts:
            continue
        h.update(str(p.relative_to(root)).encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def core_hash() -> str:
    """:func:`tree_hash` of the ``wgf_core`` package this process imports."""
    return tree_hash(Path(__file__).resolve().parents[1])


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through ``<path>.tmp`` and a rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_json(path: Path, default):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return default


def device_label(device: str) -> str:
    """``"GPU <name>"`` or ``"CPU (<n> cores)"``: the hardware a run used, for its state and timings."""
    if str(device).startswith("cuda"):
        try:
            import torch

            return "GPU " + torch.cuda.get_device_name(torch.device(device))
        except Exception:  # pragma: no cover
            return "GPU"
    return f"CPU ({os.cpu_count()} cores)"


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ----------------------------------------------------------------------------- one run
@dataclass
class RunSpec:
    """One papermill execution of ``source`` with ``parameters`` (see the module docstring).

    ``output``: the executed notebook; ``state``: its ``run.json``; ``metrics``: where its
    record goes as JSON (``None``: nowhere). ``want``: :func:`wanted_state`; ``info``: more
    fields for the state (experiment, seed, ...); ``expected``: seconds it is expected to take
    (longest first); ``timeout``: per cell, seconds.
    """

    key: str
    source: Path
    parameters: dict
    output: Path
    state: Path
    want: dict
    metrics: Optional[Path] = None
    info: dict = field(default_factory=dict)
    expected: float = 0.0
    timeout: int = 3600

    @property
    def gpu(self) -> bool:
        return str(self.parameters.get("device", "cpu")).startswith("cuda")

    @property
    def tmp_output(self) -> Path:
        return Path(self.output).with_name(Path(self.output).stem + ".tmp.ipynb")

    def tmp_files(self) -> list[Path]:
        """The files a run cut off may leave (removed by :class:`Runner` and by the next run)."""
        files = [self.tmp_output, Path(self.state).with_name(Path(self.state).name + ".tmp")]
        if self.metrics:
            files.append(Path(self.metrics).with_name(Path(self.metrics).name + ".tmp"))
        return files

    def load_state(self) -> dict:
        return load_json(self.state, {})


def wanted_state(source: Path, parameters: dict, wgf_core_sha256: str) -> dict:
    """What makes a run up to date: the source notebook's hash, the parameters, the library's hash."""
    return {"source_sha256": sha256_bytes(Path(source).read_bytes()), "parameters": dict(parameters),
            "wgf_core_sha256": wgf_core_sha256}


def is_up_to_date(state: dict, want: dict, output: Path) -> bool:
    """``state`` (a ``run.json``) succeeded with every field of ``want``, and its notebook exists."""
    return (Path(output).exists() and state.get("status") == "ok"
            and all(state.get(k) == v for k, v in want.items()))


def _state(spec: RunSpec, status: str, error: str, seconds: float) -> dict:
    from .. import __version__

    return dict(spec.want, **spec.info, status=status, error=error, seconds=round(seconds, 2),
                profile=spec.parameters.get("profile"), device=device_label(spec.parameters.get("device", "cpu")),
                wgf_core_version=__version__, finished_utc=_utc_now())


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[-1] if text else ''}"[:500]


def _kernel_environment() -> None:
    """In a worker: give the kernels the driver's environment.

    A Dask nanny pins ``PYTHONHASHSEED`` (restored to the driver's), and a worker forked from
    the forkserver has the variables the driver had when that started (those it has dropped
    since are removed).
    """
    for name in filter(None, os.environ.pop("WGF_KERNEL_UNSET", "").split(",")):
        os.environ.pop(name, None)
    seed = os.environ.pop("WGF_KERNEL_PYTHONHASHSEED", None)
    if seed == "":
        os.environ.pop("PYTHONHASHSEED", None)
    elif seed is not None:
        os.environ["PYTHONHASHSEED"] = seed


@functools.lru_cache(maxsize=None)
def kernel_manager_class() -> type:
    """The kernel manager of every run: Unix sockets, and a shutdown that sends no SIGINT.

    An ``AsyncKernelManager`` (papermill's, through nbclient) whose kernels are started by
    :class:`wgf_core.notebook_kernel.QuietProvisioner` whatever provisioner the ``python3``
    kernelspec it finds names (one in the user's Jupyter folder may name none).
    """
    import uuid

    from jupyter_client.manager import AsyncKernelManager

    from ..notebook_kernel import QuietProvisioner

    class RunKernelManager(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw):
            if self.provisioner is None:  # set on the first start; a restart keeps it
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                self.provisioner = QuietProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                    parent=self)
            return await super()._async_pre_start_kernel(**kw)

    return RunKernelManager


def execute_run(spec: RunSpec) -> dict:
    """Execute one run with papermill (the Dask task; also callable in-process); returns its state.

    The notebook runs in its own folder, on the ``python3`` kernel (started and shut down by
    :func:`kernel_manager_class`), into :attr:`RunSpec.tmp_output`,
    renamed to ``output`` when it ends, even if a cell failed (the partial notebook shows the
    error); a run whose record has failed project checks gets a warning listing them at its top
    (:func:`wgf_core.reporting.mark_failed_checks`). Then ``metrics`` (the record,
    :func:`wgf_core.reporting.read_metrics`; removed when there is none) and ``state`` are written
    atomically.
    """
    import papermill

    from ..reporting import mark_failed_checks, read_metrics

    _kernel_environment()
    for tmp in spec.tmp_files():
        tmp.unlink(missing_ok=True)
    Path(spec.output).parent.mkdir(parents=True, exist_ok=True)
    tmp = spec.tmp_output
    t0 = time.perf_counter()
    status, error = "ok", ""
    try:
        papermill.execute_notebook(str(spec.source), str(tmp), parameters=spec.parameters,
                                   cwd=str(Path(spec.source).parent), kernel_name="python3", progress_bar=False,
                                   log_output=False, execution_timeout=spec.timeout,
                                   request_save_on_cell_execute=False, kernel_manager_class=kernel_manager_class())
    except Exception as exc:  # a failed cell: keep the partial output, it shows the error
        status, error = "failed", _error_text(exc)
    seconds = time.perf_counter() - t0
    if tmp.exists():
        if status == "ok":
            mark_failed_checks(tmp)
        os.replace(tmp, spec.output)
    if spec.metrics:
        record = read_metrics(spec.output) if status == "ok" and Path(spec.output).exists() else None
        if record is None:
            Path(spec.metrics).unlink(missing_ok=True)
        else:
            atomic_write_text(spec.metrics, json.dumps(record, indent=1) + "\n")
    state = _state(spec, status, error, seconds)
    atomic_write_text(spec.state, json.dumps(state, indent=1) + "\n")
    return state


def _record_failure(spec: RunSpec, exc: BaseException) -> dict:
    """The state of a run that never returned (its worker died twice, or it was cancelled)."""
    for tmp in spec.tmp_files():
        tmp.unlink(missing_ok=True)
    if spec.metrics:
        Path(spec.metrics).unlink(missing_ok=True)
    state = _state(spec, "failed", _error_text(exc), 0.0)
    atomic_write_text(spec.state, json.dumps(state, indent=1) + "\n")
    return state


# ----------------------------------------------------------------------------- the cluster
def default_jobs(device: str = "cpu") -> int:
    """Runs at once on this machine: one per CPU core on the CPU, one on a GPU."""
    return (os.cpu_count() or 1) if not str(device).startswith("cuda") else 1


#: The environment of this process when it first started a LocalCluster (the forkserver's, see :func:`_preload_forkserver`).
_FORKSERVER_ENV: Optional[dict] = None


def _preload_forkserver() -> dict:
    """Let the LocalCluster's workers fork from a server that has imported papermill and this module.

    A worker then starts in a fraction of a second instead of importing them anew (seconds on a
    busy CPU), for every cluster this process starts. Returns the environment the forkserver has.
    """
    global _FORKSERVER_ENV
    if _FORKSERVER_ENV is None:
        import dask
        from distributed.utils import get_mp_context

        with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
            ctx = get_mp_context()  # Dask's preload list, set once
        ctx.set_forkserver_preload(["distributed", "papermill", __name__])
        _FORKSERVER_ENV = dict(os.environ)
    return _FORKSERVER_ENV


class ClusterError(RuntimeError):
    """The cluster cannot execute the runs (e.g. GPU runs and no worker with a ``GPU`` resource)."""


#: Seconds to wait for an existing scheduler (``--scheduler``, ``DASK_SCHEDULER_ADDRESS``) to answer.
CONNECT_TIMEOUT = 5


def _connect(client_class, address: str):
    """A client of the scheduler at ``address``, once a probe connection has reached it.

    The probe (a Dask comm opened and closed in an event loop of its own thread, so that it also
    works where a loop runs, as in a notebook) waits at most :data:`CONNECT_TIMEOUT` seconds;
    any failure (refused, timed out, unknown host, a server that is not a Dask scheduler)
    raises :class:`ClusterError` in one line naming the address and what is allowed. The
    client itself keeps Dask's own timeouts (e.g. for reconnecting during a long sweep).
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect

    async def probe() -> None:
        comm = await connect(address, timeout=CONNECT_TIMEOUT)
        await comm.close()

    try:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, probe()).result()
        return client_class(address, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, a foreign server's garbage (MemoryError ...)
        raise ClusterError(f"parameter 'scheduler' = {address!r} is not allowed: the address of a running Dask "
                           f"scheduler (--scheduler, else DASK_SCHEDULER_ADDRESS); none answered there within "
                           f"{CONNECT_TIMEOUT} s ({_error_text(exc)})") from None


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


class Runner:
    """A Dask client for running :class:`RunSpec` s; a context manager that cleans up on leaving.

    Parameters
    ----------
    jobs : int, optional
        Workers of the ``LocalCluster`` (default :func:`default_jobs`); each has one thread and
        its kernels ``threads`` torch threads (default ``cpu_count // jobs``, via ``OMP_NUM_THREADS``).
    device : str
        ``"cuda..."``: the local workers get the resource ``GPU=1`` each, so no two runs share a GPU.
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:port``); default ``DASK_SCHEDULER_ADDRESS``,
        else a ``LocalCluster``. Its workers need one thread each (``--nthreads 1``) and, for GPU
        runs, ``--resources GPU=1``. One that does not answer within :data:`CONNECT_TIMEOUT`
        seconds raises :class:`ClusterError` on entering.
    """

    def __init__(self, jobs: Optional[int] = None, device: str = "cpu", scheduler: Optional[str] = None,
                 threads: Optional[int] = None):
        self.jobs = jobs or default_jobs(device)
        self.device = device
        self.scheduler = scheduler if scheduler is not None else os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.jobs)
        self.client = self.cluster = None
        self._pending: dict = {}
        self._handlers: dict = {}
        self._before: set = set()

    # -- lifecycle
    def __enter__(self) -> "Runner":
        import threading

        import psutil

        self._before = {p.pid for p in psutil.Process().children(recursive=True)}
        if not self.scheduler:
            _child_subreaper(True)  # a kernel whose worker dies stays our descendant, to be ended in close()
        if threading.current_thread() is threading.main_thread():
            self._handlers = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt)}
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        import dask
        from distributed import Client, LocalCluster

        for name in ("distributed", "tornado", "asyncio"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        if self.scheduler:
            self.client = _connect(Client, self.scheduler)
            return
        forkserver_env = _preload_forkserver()
        # no statistical profiler, a slower system monitor and event-loop tick: on 2 cores they cost ~8 % of
        # a core for a 1-worker cluster running a task, ~2 % without (idle task, 10 s, psutil CPU times)
        config = {"distributed.scheduler.allowed-failures": 1, "distributed.nanny.pre-spawn-environ": {},
                  "distributed.worker.multiprocessing-method": "forkserver",
                  "distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.interval": "5s",
                  "distributed.admin.tick.interval": "1s"}
        with dask.config.set(config):
            # the workers fork from the forkserver: its environment, then this one (the kernels inherit it)
            env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "WGF_NO_PROGRESS": "1",
                   "WGF_KERNEL_PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", ""),
                   "WGF_KERNEL_UNSET": ",".join(sorted(set(forkserver_env) - set(os.environ)))}
            gpu = str(self.device).startswith("cuda")
            self.cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                        dashboard_address=None, memory_limit=0, silence_logs=logging.CRITICAL,
                                        # the scheduler's HTTP routes on a free port: the default 8787 may be taken
                                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                        resources={"GPU": 1} if gpu else None, env=env)
            self.client = Client(self.cluster, set_as_default=False)

    def close(self) -> None:
        """Cancel what is pending, close the client and cluster, end every process started, drop tmp files.

        With runs pending (an interruption or an error), our workers are killed first (SIGKILL:
        a run cut off records nothing), then their kernels are terminated; a normal end closes
        the cluster. Any process of ours still alive after that is terminated, then killed, and
        the files of the kernels among them removed (:func:`_kernel_files`).
        """
        import psutil

        local = self.cluster is not None
        kernel_files: set = set()

        def ours() -> dict:  # the processes our LocalCluster started: workers, their kernels, adopted orphans
            if not local:
                return {}
            found = {p.pid: p for p in psutil.Process().children(recursive=True)
                     if p.pid not in self._before and not _multiprocessing_helper(p)}
            for p in found.values():
                kernel_files.update(_kernel_files(_cmdline(p)))
            return found

        procs = ours()
        if self._pending:
            try:
                self.client.cancel(list(self._pending), force=True)
            except Exception:  # noqa: BLE001 - the scheduler may be gone already
                pass
            procs.update(ours())
            kernels = {pid for pid, p in procs.items() if "ipykernel" in " ".join(_cmdline(p))}
            for pid, p in procs.items():
                _signal(p, psutil.Process.kill if pid not in kernels else psutil.Process.terminate)
        for obj in (self.client, self.cluster):
            try:
                if obj is not None:
                    obj.close(timeout=5)
            except Exception:  # noqa: BLE001
                pass
        self.client = self.cluster = None
        procs.update(ours())
        for p in procs.values():
            _signal(p, psutil.Process.terminate)
        gone, alive = psutil.wait_procs(list(procs.values()), timeout=3)
        for p in alive:
            _signal(p, psutil.Process.kill)
        psutil.wait_procs(alive, timeout=3)
        for path in kernel_files:
            path.unlink(missing_ok=True)
        for spec in self._pending.values():
            for tmp in spec.tmp_files():
                tmp.unlink(missing_ok=True)
        self._pending = {}
        _child_subreaper(False)
        for sig, handler in self._handlers.items():
            signal.signal(sig, handler)
        self._handlers = {}

    # -- runs
    def slots(self, gpu: bool = False) -> int:
        """Runs the cluster can hold at once: worker threads (with a ``GPU`` resource, for GPU runs)."""
        info = self.client.scheduler_info(n_workers=-1)["workers"].values()
        if gpu:
            return int(sum(w.get("resources", {}).get("GPU", 0) for w in info))
        return int(sum(w.get("nthreads", 1) for w in info))

    def run(self, specs: Iterable[RunSpec], progress: bool = False, window: Optional[int] = None,
            log=None) -> Iterator[tuple[RunSpec, dict]]:
        """Execute ``specs`` and yield ``(spec, state)`` as each completes (see :func:`execute_run`).

        Longest :attr:`RunSpec.expected` first: on our ``LocalCluster`` at most ``window``
        runs (default: its worker threads) are submitted at a time, the next one when one ends,
        like a process pool; an external scheduler gets them all at once, with Dask priorities.
        ``progress`` shows a bar of runs done / failed / left and the mean time per run;
        ``log(spec)`` is called as each is submitted.
        """
        from distributed import as_completed

        todo = sorted(specs, key=lambda s: -float(s.expected or 0.0))
        if not todo:
            return
        gpu = any(s.gpu for s in todo)
        if gpu and self.slots(gpu=True) == 0:
            raise ClusterError("GPU runs need workers with the resource GPU=1 (dask worker --resources GPU=1, "
                               "or dask-cuda-worker --resources GPU=1); this cluster has none")
        if window is None and self.cluster is not None:
            window = max(1, self.slots(gpu=gpu))
        window = len(todo) if window is None else window

        def submit(spec: RunSpec):
            if log is not None:
                log(spec)
            fut = self.client.submit(execute_run, spec, key=f"wgf-run-{sha256_bytes(str(spec.state).encode())[:16]}",
                                     priority=int(spec.expected or 0), pure=False,
                                     resources={"GPU": 1} if spec.gpu else None)
            self._pending[fut] = spec
            return fut

        queue = list(todo)
        running = as_completed([submit(queue.pop(0)) for _ in range(min(window, len(queue)))], loop=self.client.loop)
        bar = _Bar(len(todo), progress)
        try:
            for fut in running:
                spec = self._pending.pop(fut)
                try:
                    state = fut.result()
                except Exception as exc:  # KilledWorker (died twice), CancelledError, a lost scheduler
                    state = _record_failure(spec, exc)
                fut.release()
                if queue:
                    running.add(submit(queue.pop(0)))
                bar.update(state)
                yield spec, state
        finally:
            bar.close()


def _child_subreaper(on: bool) -> None:
    """Linux: adopt the orphans of our descendants (``PR_SET_CHILD_SUBREAPER``); elsewhere nothing."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(36, int(on), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover
            pass


def _cmdline(p) -> list:
    import psutil

    try:
        return p.cmdline()
    except psutil.Error:
        return []


def _kernel_files(cmdline: list) -> list:
    """The files of the ipykernel run by ``cmdline``: its connection file (``-f FILE``) and its Unix sockets.

    The kernel manager removes them when it shuts the kernel down; a kernel terminated by
    :meth:`Runner.close` leaves them. Nothing for another command line.
    """
    if not any("ipykernel" in part for part in cmdline) or "-f" not in cmdline[:-1]:
        return []
    connection = Path(cmdline[cmdline.index("-f") + 1])
    info = load_json(connection, {})
    files = [connection]
    if info.get("transport") == "ipc" and info.get("ip"):
        files += [Path(f"{info['ip']}-{info[name]}") for name in
                  ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port") if name in info]
    return files


def _multiprocessing_helper(p) -> bool:
    """The forkserver or resource tracker of multiprocessing: they live as long as this process, and end with it.

    Our children with their command line (the workers forked from the forkserver share its
    command line, but are the forkserver's children).
    """
    import psutil

    cmd = " ".join(_cmdline(p))
    try:
        ours = p.ppid() == os.getpid()
    except psutil.Error:
        return False
    return ours and ("multiprocessing.forkserver" in cmd or "multiprocessing.resource_tracker" in cmd)


def _signal(p, how) -> None:
    """``how(p)`` (``psutil.Process.kill`` / ``.terminate``), if ``p`` is still there."""
    import psutil

    try:
        how(p)
    except psutil.Error:
        pass


class _Bar:
    """tqdm bar of runs: done, failed, left, mean seconds per run (no-op when disabled)."""

    def __init__(self, total: int, enabled: bool):
        self.bar, self.failed, self.seconds, self.done = None, 0, 0.0, 0
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="run", desc="runs", dynamic_ncols=True)

    def update(self, state: dict) -> None:
        self.done += 1
        self.failed += state.get("status") != "ok"
        self.seconds += float(state.get("seconds") or 0.0)
        if self.bar is not None:
            self.bar.set_postfix_str(f"failed {self.failed}, left {self.bar.total - self.done}, "
                                     f"{self.seconds / self.done:.1f} s/run", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def execute_many(specs: Iterable[RunSpec], runner: Optional[Runner] = None, progress: bool = True,
                 **runner_kw) -> Iterator[tuple[RunSpec, dict]]:
    """:meth:`Runner.run` on ``runner``, or on a fresh :class:`Runner` (``runner_kw``) closed at the end."""
    if runner is not None:
        yield from runner.run(specs, progress=progress)
        return
    with Runner(**runner_kw) as own:
        yield from own.run(specs, progress=progress)
