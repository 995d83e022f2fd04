"""Google Colab: add what SwapLab needs to Colab's own stack, and work from a notebooks/ folder.

Every notebook's first cell does, in Colab only::

    %pip install -q --no-deps "{SWAPLAB_SOURCE}"   # the user's SwapLab: git+URL, a .whl or a .zip of it
    from swaplab.notebook import colab; colab.setup()

``setup`` reads SwapLab's own requirements from its installed metadata (the
``pyproject.toml`` list, never a copy of it). Colab's TensorFlow runs Keras 3 from
2.16 on: then it is kept, with its Keras, TensorBoard and kernel, and the rest is
added unpinned, so pip picks versions that fit Colab's stack. An older TensorFlow is
replaced by SwapLab's pinned one. Samples and models are fetched from their public
URLs on first use (``swaplab.core.assets``), so nothing else of the repository is needed.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

KEPT_FROM_COLAB = ("tensorflow", "keras", "tensorboard", "ipykernel")  # with a Keras 3 TensorFlow: Colab's own
EXTRAS = ("eval",)  # the identity filter and metrics (dlib); "dev" and "ui" are for the repository's tests


def tensorflow_version() -> tuple[int, int] | None:
    """(major, minor) of the installed TensorFlow, None without one."""
    try:
        return tuple(int(x) for x in importlib.metadata.version("tensorflow").split(".")[:2])
    except importlib.metadata.PackageNotFoundError:
        return None


def requirements(keep_tensorflow: bool, extras: tuple[str, ...] = EXTRAS) -> list[str]:
    """SwapLab's requirements (plus ``extras``) as pip arguments.

    ``keep_tensorflow``: leave out ``KEPT_FROM_COLAB`` and drop exact pins (``==``),
    so what is added fits the TensorFlow already there.
    """
    out = []
    for line in importlib.metadata.requires("swaplab") or []:
        spec, _, marker = line.partition(";")
        extra = re.search(r"extra\s*==\s*[\"']([^\"']+)[\"']", marker)
        if extra and extra.group(1) not in extras:
            continue
        name = re.match(r"[A-Za-z0-9_.-]+", spec.strip()).group(0)
        if keep_tensorflow and name.lower() in KEPT_FROM_COLAB:
            continue
        out.append(name if keep_tensorflow and "==" in spec else spec.strip())
    return out


def setup(workdir: str | Path = "/content/swaplab", install: bool = True) -> Path:
    """Install the requirements Colab lacks (``install``) and change into ``workdir/notebooks``; returns that folder.

    The notebooks' relative DATA_DIR and WEIGHTS_DIR ("../data", "../weights") then land in ``workdir``.
    """
    tf = tensorflow_version()
    keep = tf is not None and tf >= (2, 16)
    if install:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *requirements(keep)], check=True)
    notebooks = Path(workdir) / "notebooks"
    notebooks.mkdir(parents=True, exist_ok=True)
    os.chdir(notebooks)
    print(f"swaplab set up ({'kept' if keep else 'installed'} TensorFlow"
          f"{' ' + '.'.join(map(str, tf)) if keep else ''}); working in {notebooks}", flush=True)
    return notebooks
