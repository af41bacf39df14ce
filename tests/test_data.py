"""Image -> point cloud, checksummed image cache, MNIST digits."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from wgf_core import data as D
from wgf_core.validation import ParameterError

SHARED = Path(os.environ.get("WGF_DATA_DIR") or Path(__file__).resolve().parents[1] / ".." / "shared" / "data")


def _shared_or_skip():
    if not (SHARED / "max_und_moritz.png").exists():
        pytest.skip(f"WGF_DATA_DIR is unset and {SHARED} has no max_und_moritz.png")
    return SHARED


def test_image_to_points_follows_intensity_and_is_seeded():
    img = np.ones((40, 80))
    img[10:20, 60:70] = 0.0  # one dark square (mass after inversion)
    a = D.image_to_points(img, 500, resolution=None, blur=0.0, box=2.0, generator=torch.Generator().manual_seed(0))
    b = D.image_to_points(img, 500, resolution=None, blur=0.0, box=2.0, generator=torch.Generator().manual_seed(0))
    assert a.shape == (500, 2) and torch.equal(a, b)  # exactness is the property: same seed, same points
    # square columns 60..70 of 80 -> x in [0.5, 0.75]; rows 10..20 of 40 (y up) -> y in [0, 0.25]
    assert a[:, 0].min() >= 0.5 - 1e-6 and a[:, 0].max() <= 0.75 + 1e-6
    assert a[:, 1].min() >= 0.0 - 1e-6 and a[:, 1].max() <= 0.25 + 1e-6
    with pytest.raises(ParameterError):
        D.image_to_points(np.ones((5, 5)), 10)


def test_fetch_from_cache_dir_and_points():
    d = _shared_or_skip()
    p = D.fetch_image("max_und_moritz", cache_dir=d, download=False)
    assert p.name == "max_und_moritz.png"
    x = D.max_und_moritz_points(1000, cache_dir=d, generator=torch.Generator().manual_seed(0))
    assert x.shape == (1000, 2) and x.abs().max() <= 0.6 + 1e-6
    assert D.smiley_points(100, cache_dir=d).shape == (100, 2)


def test_missing_file_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("WGF_DATA_DIR", str(tmp_path))
    with pytest.raises(D.DataUnavailableError) as e:
        D.fetch_image("smiley", download=False)
    msg = str(e.value)
    assert str(tmp_path) in msg and "WGF_DATA_DIR" in msg and "sha256" in msg


def test_checksum_mismatch(tmp_path):
    (tmp_path / "smiley.png").write_bytes(b"not a png")
    with pytest.raises(D.DataUnavailableError, match="sha256"):
        D.fetch_image("smiley", cache_dir=tmp_path, download=False)


def test_mnist_first_100_digits():
    pytest.importorskip("mnist")
    x = D.mnist_digits(100)
    assert x.shape == (100, 784) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert D.mnist_digits(3).shape == (3, 784)


def test_failed_download_into_a_missing_folder_says_so_and_creates_nothing(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("WGF_DATA_DIR", str(missing))

    def offline(url, timeout=20.0):
        raise OSError("network is unreachable")

    monkeypatch.setattr(D, "_download", offline)
    with pytest.raises(D.DataUnavailableError, match="does not exist") as e:
        D.fetch_image("smiley")
    assert "OSError" in str(e.value) and not missing.exists()
    # bytes that fail the checksum are not written either
    monkeypatch.setattr(D, "_download", lambda url, timeout=20.0: b"not the image")
    with pytest.raises(D.DataUnavailableError, match="expected"):
        D.fetch_image("smiley")
    assert not missing.exists()


def test_download_writes_the_verified_file(tmp_path, monkeypatch):
    d = _shared_or_skip()
    good = (Path(d) / "smiley.png").read_bytes()
    monkeypatch.setattr(D, "_download", lambda url, timeout=20.0: good)
    p = D.fetch_image("smiley", cache_dir=tmp_path / "new")
    assert p.read_bytes() == good and sorted(x.name for x in p.parent.iterdir()) == ["smiley.png"]


def test_a_directory_in_place_of_the_image_is_named(tmp_path):
    (tmp_path / "smiley.png").mkdir()
    with pytest.raises(D.DataUnavailableError, match="is a directory"):
        D.fetch_image("smiley", cache_dir=tmp_path, download=False)
    with pytest.raises(ParameterError, match="directory"):
        D.load_image(tmp_path)
    with pytest.raises(ParameterError, match="no such file"):
        D.load_image(tmp_path / "absent.png")


def test_a_data_dir_that_is_a_file_is_named_a_file(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(D, "_download", lambda url, timeout=20.0: calls.append(url) or b"")
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("WGF_DATA_DIR", str(tmp_path / "cache"))
    with pytest.raises(D.DataUnavailableError) as e:
        D.fetch_image("smiley")
    msg = str(e.value)
    assert "WGF_DATA_DIR" in msg and "is a file, not a folder" in msg and "does not exist" not in msg
    monkeypatch.setenv("WGF_DATA_DIR", str(tmp_path / "cache" / "sub"))
    with pytest.raises(D.DataUnavailableError, match=r"cannot be a folder: .*cache on its path is a file"):
        D.fetch_image("smiley")
    assert calls == []  # refused before any download
    with pytest.raises(D.DataUnavailableError, match="is a file, not a folder"):
        D.fetch_image("smiley", cache_dir=tmp_path / "cache", download=False)
    # a folder that is merely absent is still reported as absent
    monkeypatch.setenv("WGF_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(D.DataUnavailableError, match="does not exist"):
        D.fetch_image("smiley", download=False)
