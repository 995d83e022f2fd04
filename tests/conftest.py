"""Shared fixtures: the offline mirror, and small real projects built by the real pipeline.

The project fixtures are session-scoped and built once: each later stage
(aligned faces -> a trained run -> a swapped video) reuses the one before it,
the same way the notebooks hand work to each other through the disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from swaplab import assets  # noqa: E402  (after the TF log level is set)

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session", autouse=True)
def _mirror():
    """Tests read the pinned files from ../shared unless SWAPLAB_MIRROR already points somewhere."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SWAPLAB_MIRROR", str(assets.mirror_dir() or SHARED))
        yield
