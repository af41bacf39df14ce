"""A normal run's log holds progress and results, and no ERROR, WARNING, Traceback or KeyboardInterrupt line.

``wgf run`` on the fast fixture notebook (tests/data/cli_notebooks) in a subprocess, its
stdout and stderr together, with the port of Dask's default HTTP server (8787) taken; and the
kernel manager of every run (:func:`wgf_core.cli.runner.kernel_manager_class`) next to
papermill's default one: the default one starts the kernel over TCP (ipykernel's WARNING)
and sends it SIGINT at shutdown (ipykernel's ``ERROR | KeyboardInterrupt caught in kernel``
when the signal lands in a message handler).
"""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from wgf_core.cli.runner import _kernel_files, kernel_manager_class

pytest.importorskip("distributed")
pytest.importorskip("papermill")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "cli_notebooks"
NOISE = re.compile(r"ERROR|WARNING|Warning|Traceback|KeyboardInterrupt")


def noisy_lines(text: str) -> list[str]:
    """The lines of ``text`` that report an error, a warning, a traceback or an interrupt."""
    return [line for line in text.splitlines() if NOISE.search(line)]


def test_noisy_lines_finds_the_kernel_messages():
    assert noisy_lines("runs: 100%|####| 1/1\ndone: 1 ran, 0 failed, 0 skipped.") == []
    log = ("done\n[IPKernelApp] WARNING | Kernel is running over TCP without encryption.\n"
           "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.\nnode.py:195: UserWarning: Port 8787")
    assert noisy_lines(log) == log.splitlines()[1:]


def _hold_port(port: int):
    """A listening socket on ``127.0.0.1:port``, or ``None`` when something else holds it already."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.listen(1)
    return sock


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_wgf_run_prints_no_error_or_warning(tmp_path):
    out = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "wgf_core.cli", "--notebooks-dir", str(FIXTURES), "run", "fast/plain",
           "-p", "profile=ci", "--out", str(out), "--jobs", "1"]
    held = _hold_port(8787)
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    finally:
        if held is not None:
            held.close()
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "done: 1 ran, 0 failed" in log
    assert noisy_lines(log) == []


async def _start_and_stop(manager_class) -> dict:
    """Start a ``python3`` kernel with ``manager_class``, talk to it, shut it down; what happened."""
    km = manager_class(kernel_name="python3")
    await km.start_kernel()
    sent: list = []
    send_signal = km.provisioner.send_signal

    async def recording(signum):
        sent.append(signum)
        await send_signal(signum)

    km.provisioner.send_signal = recording
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        sockets = [f"{km.ip}-{port}" for port in km.ports] if km.transport == "ipc" else []
        opened = [Path(s).exists() for s in sockets]
        await km.shutdown_kernel()
    finally:
        kc.stop_channels()
    return {"transport": km.transport, "ip": km.ip, "signals": sent, "opened": opened,
            "left": [s for s in sockets if Path(s).exists()]}


@pytest.mark.slow
def test_run_kernels_use_unix_sockets_and_stop_without_sigint(capfd):
    from jupyter_client.manager import AsyncKernelManager

    default = asyncio.run(_start_and_stop(AsyncKernelManager))
    default_log = capfd.readouterr()
    ours = asyncio.run(_start_and_stop(kernel_manager_class()))
    our_log = capfd.readouterr()
    # papermill's default: TCP (ipykernel warns) and a SIGINT before the shutdown request
    assert default["transport"] == "tcp" and signal.SIGINT in default["signals"]
    assert any("WARNING" in line for line in noisy_lines(default_log.out + default_log.err))
    # ours: five Unix sockets in the temporary folder, removed at shutdown, and no signal at all
    assert ours["transport"] == "ipc" and Path(ours["ip"]).parent == Path(tempfile.gettempdir())
    assert ours["opened"] == [True] * 5 and ours["left"] == []
    assert ours["signals"] == []
    assert noisy_lines(our_log.out + our_log.err) == []


def test_kernel_files_of_a_kernel_command_line(tmp_path):
    conn = tmp_path / "kernel.json"
    sockets = str(tmp_path / "wgf-kernel-0123")
    conn.write_text(json.dumps({"transport": "ipc", "ip": sockets, "shell_port": 1, "iopub_port": 2, "stdin_port": 3,
                                "control_port": 4, "hb_port": 5}))
    cmd = ["/venv/bin/python", "-m", "ipykernel_launcher", "-f", str(conn)]
    assert _kernel_files(cmd) == [conn] + [Path(f"{sockets}-{n}") for n in range(1, 6)]
    conn.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1", "shell_port": 40001}))
    assert _kernel_files(cmd) == [conn]  # TCP: the connection file only
    assert _kernel_files(["python", "-m", "distributed.cli.dask_worker", "-f", str(conn)]) == []
    assert _kernel_files(["python", "-m", "ipykernel_launcher", "-f"]) == []
