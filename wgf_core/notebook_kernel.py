"""The kernel of every notebook run: Unix sockets, and a shutdown that sends no SIGINT.

:class:`QuietProvisioner` is a ``jupyter_client`` kernel provisioner (a
:class:`~jupyter_client.provisioning.LocalProvisioner` with two changes), registered under the
entry point group ``jupyter_client.kernel_provisioners`` as :data:`PROVISIONER_NAME`. The
kernelspec a notebook names uses it when its ``metadata.kernel_provisioner.provisioner_name`` is
that name (:func:`install_kernelspec` writes it into the environment's ``python3`` kernelspec,
``scripts/install.py`` calls it), so a plain ``papermill in.ipynb out.ipynb`` gets it. The
project's runner (:func:`wgf_core.cli.runner.kernel_manager_class`) uses it whatever kernelspec
it finds.

* ``pre_launch`` switches the kernel manager to ``transport = "ipc"``: the kernel's five channels
  are Unix sockets ``<tempdir>/wgf-kernel-<random hex>-<n>`` (the manager's ``ip``, removed by the
  manager at shutdown) instead of TCP ports on localhost, which ipykernel reports as a
  ``WARNING`` (unencrypted TCP) on every start. Where ZeroMQ has no IPC transport
  (``zmq.has("ipc")`` false) the kernel runs over TCP.
* ``send_signal`` drops the interrupt (SIGINT) that ``shutdown_kernel`` sends before its shutdown
  request: papermill shuts the kernel down as soon as the reply to its last request
  (``kernel_info``) arrives, and a SIGINT landing while the kernel is still in that handler is
  logged as ``ERROR | KeyboardInterrupt caught in kernel``. The kernel is idle then and ends on
  the shutdown request; one still busy (a cell that timed out) gets SIGTERM after half of
  ``shutdown_wait_time``, then SIGKILL. Interrupting a live kernel (``interrupt_kernel``) still
  sends SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import uuid
from pathlib import Path
from typing import Any, Optional

from jupyter_client.provisioning import LocalProvisioner

__all__ = ["PROVISIONER_NAME", "QuietProvisioner", "install_kernelspec"]

#: The provisioner's entry point name (``pyproject.toml``) and the name kernelspecs give.
PROVISIONER_NAME = "wgf-quiet"


class QuietProvisioner(LocalProvisioner):
    """A local provisioner whose kernels listen on Unix sockets and get no SIGINT at shutdown.

    See the module docstring.
    """

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Set the kernel manager's transport to IPC (sockets in the temporary folder), then launch as
        :class:`~jupyter_client.provisioning.LocalProvisioner` does.

        A restarted kernel keeps its transport and sockets; a manager already on IPC is left as it is.
        """
        import zmq

        km = self.parent
        if km is not None and km.transport == "tcp" and zmq.has("ipc"):
            km.transport = "ipc"
            km.ip = os.path.join(tempfile.gettempdir(), f"wgf-kernel-{uuid.uuid4().hex[:12]}")
            km.cache_ports = False  # the port cache binds TCP ports
        return await super().pre_launch(**kwargs)

    async def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the kernel's process group, except the SIGINT of a kernel manager shutting down."""
        if signum == signal.SIGINT and getattr(self.parent, "shutting_down", False):
            return
        await super().send_signal(signum)


def install_kernelspec(prefix: Optional[str] = None, name: str = "python3") -> Path:
    """Name :class:`QuietProvisioner` in the kernelspec ``name`` of the environment at ``prefix``.

    Writes ``metadata.kernel_provisioner.provisioner_name`` into
    ``<prefix>/share/jupyter/kernels/<name>/kernel.json``; when that file does not exist, ipykernel's
    kernelspec is installed there first (``ipykernel.kernelspec.install``). Running it again changes
    nothing.

    Parameters
    ----------
    prefix : str, optional
        The environment's prefix; ``sys.prefix`` if None.
    name : str
        The kernelspec's name.

    Returns
    -------
    pathlib.Path
        The kernelspec's ``kernel.json``.
    """
    import sys

    prefix = sys.prefix if prefix is None else prefix
    path = Path(prefix) / "share" / "jupyter" / "kernels" / name / "kernel.json"
    if not path.exists():
        from ipykernel.kernelspec import install

        install(kernel_name=name, prefix=prefix)
    spec = json.loads(path.read_text())
    wanted = {"provisioner_name": PROVISIONER_NAME, "config": {}}
    if spec.setdefault("metadata", {}).get("kernel_provisioner") != wanted:
        spec["metadata"]["kernel_provisioner"] = wanted
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(spec, indent=1) + "\n")
        os.replace(tmp, path)
    return path
