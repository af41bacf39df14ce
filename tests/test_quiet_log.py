"""A normal run's log holds progress and results, and no ERROR, WARNING, Traceback or KeyboardInterrupt line.

``wgf run`` on the fast fixture notebook (tests/data/cli_notebooks) in a subprocess, its
stdout and stderr together, with the port of Dask's default HTTP server (8787) taken; the
``papermill`` command of this environment on a small notebook (its ``python3`` kernelspec names
:class:`wgf_core.notebook_kernel.QuietProvisioner`); and the kernels of
:class:`~wgf_core.notebook_kernel.QuietProvisioner` (through the kernelspec, and through the
runner's :func:`wgf_core.cli.runner.kernel_manager_class` whatever the kernelspec) next to those of
``jupyter_client``'s local provisioner, which starts the kernel over TCP (ipykernel's WARNING) and
sends it SIGINT at shutdown (ipykernel's ``ERROR | KeyboardInterrupt caught in kernel`` when the
signal lands in a message handler).
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
from wgf_core.notebook_kernel import PROVISIONER_NAME

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


@pytest.mark.slow
def test_plain_papermill_prints_no_error_or_warning(tmp_path):
    import nbformat

    kernel_json = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    assert json.loads(kernel_json.read_text())["metadata"]["kernel_provisioner"]["provisioner_name"] == \
        PROVISIONER_NAME, "the environment's python3 kernelspec: run scripts/install.py"
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("profile = 'default'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print('profile:', profile, 6 * 7)")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill = Path(sys.executable).with_name("papermill")
    proc = subprocess.run([str(papermill), "in.ipynb", "out.ipynb", "-p", "profile", "ci"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert noisy_lines(log) == []
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert [o["text"] for o in out.cells[-1].outputs] == ["profile: ci 42\n"]


def _plain_kernelspecs(folder: Path):
    """A kernelspec manager whose only kernelspec, ``plain``, is the environment's ``python3`` without a provisioner."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = json.loads((Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3" / "kernel.json").read_text())
    spec["metadata"].pop("kernel_provisioner", None)
    (folder / "plain").mkdir(parents=True)
    (folder / "plain" / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)


async def _start_and_stop(manager_class, sent: list, **kwargs) -> dict:
    """Start a kernel with ``manager_class(**kwargs)``, talk to it, shut it down; what happened.

    ``sent`` is the list the signals sent to kernels are recorded in."""
    km = manager_class(**kwargs)
    await km.start_kernel()
    sent.clear()
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        sockets = [f"{km.ip}-{port}" for port in km.ports] if km.transport == "ipc" else []
        opened = [Path(s).exists() for s in sockets]
        await km.shutdown_kernel()
    finally:
        kc.stop_channels()
    return {"transport": km.transport, "ip": km.ip, "signals": list(sent), "opened": opened,
            "left": [s for s in sockets if Path(s).exists()], "provisioner": type(km.provisioner).__name__}


@pytest.mark.slow
def test_run_kernels_use_unix_sockets_and_stop_without_sigint(capfd, monkeypatch, tmp_path):
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_client.provisioning import LocalProvisioner

    sent: list = []
    send_signal = LocalProvisioner.send_signal

    async def recording(self, signum):  # every signal a provisioner sends reaches the kernel here
        sent.append(signum)
        await send_signal(self, signum)

    monkeypatch.setattr(LocalProvisioner, "send_signal", recording)
    plain = _plain_kernelspecs(tmp_path / "kernels")
    default = asyncio.run(_start_and_stop(AsyncKernelManager, sent, kernel_name="plain", kernel_spec_manager=plain))
    default_log = capfd.readouterr()
    via_spec = asyncio.run(_start_and_stop(AsyncKernelManager, sent, kernel_name="python3"))
    via_spec_log = capfd.readouterr()
    runner = asyncio.run(_start_and_stop(kernel_manager_class(), sent, kernel_name="plain", kernel_spec_manager=plain))
    runner_log = capfd.readouterr()
    # a kernelspec without a provisioner: TCP (ipykernel warns) and a SIGINT before the shutdown request
    assert default["provisioner"] == "LocalProvisioner"
    assert default["transport"] == "tcp" and signal.SIGINT in default["signals"]
    assert any("WARNING" in line for line in noisy_lines(default_log.out + default_log.err))
    # the environment's python3 kernelspec, and the runner whatever the kernelspec: five Unix sockets in the
    # temporary folder, removed at shutdown, and no signal at all
    for ours, log in ((via_spec, via_spec_log), (runner, runner_log)):
        assert ours["provisioner"] == "QuietProvisioner"
        assert ours["transport"] == "ipc" and Path(ours["ip"]).parent == Path(tempfile.gettempdir())
        assert ours["opened"] == [True] * 5 and ours["left"] == []
        assert ours["signals"] == []
        assert noisy_lines(log.out + log.err) == []


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
