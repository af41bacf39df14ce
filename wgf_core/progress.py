"""Progress bars (tqdm) that switch themselves off in CI and batch runs."""

from __future__ import annotations

import os
from typing import Iterable, Optional


def progress_enabled(enabled: Optional[bool] = None) -> bool:
    """True unless ``enabled`` is False or the environment sets ``CI`` / ``WGF_NO_PROGRESS``."""
    if enabled is not None:
        return bool(enabled)
    return not (os.environ.get("CI") or os.environ.get("WGF_NO_PROGRESS"))


def progress(iterable: Iterable = None, *, total: Optional[int] = None, desc: str = "",
             enabled: Optional[bool] = None, **kw):
    """``tqdm.auto.tqdm`` over ``iterable`` (disabled in CI); always returns an iterable with ``update``."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not progress_enabled(enabled), leave=False, **kw)
