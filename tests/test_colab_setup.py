"""Every notebook's Colab setup installs SwapLab from SWAPLAB_SOURCE (a git URL, a zip or a wheel the user
gives), never from a guessed URL, then makes one call into the library, which adds SwapLab's own
requirements (read from its metadata) and keeps a Keras 3 TensorFlow that Colab already has."""

import json
import os
from pathlib import Path

import pytest

from swaplab.notebook import colab

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _setup_cell(path: Path) -> str:
    nb = json.loads(path.read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and "google.colab" in "".join(c["source"])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells with a Colab branch, want the setup cell only"
    return cells[0]


def _colab_block(src: str) -> str:
    return src[src.index('if "google.colab"'):src.index("colab.setup()")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_setup_installs_from_the_users_source(path):
    from IPython.core.inputtransformer2 import TransformerManager

    src = _setup_cell(path)
    assert "github.com/swaplab" not in json.dumps(json.loads(path.read_text())), f"{path.name}: a guessed repository URL"
    assert 'SWAPLAB_SOURCE = ""' in src and "raise ValueError(\"set SWAPLAB_SOURCE" in src
    assert '--no-deps "{SWAPLAB_SOURCE}"' in src and "colab.setup()" in src
    assert "tensorflow" not in _colab_block(src).lower(), "the package list lives in the library, not the notebook"
    compile(TransformerManager().transform_cell(src), path.name, "exec")  # the magics inside parse


def test_every_notebook_has_the_same_colab_block():
    blocks = {p.name: _colab_block(_setup_cell(p)) for p in NOTEBOOKS}
    assert len(set(blocks.values())) == 1, f"the Colab blocks differ: {sorted(blocks)}"


def test_requirements_come_from_the_package_metadata():
    kept = colab.requirements(keep_tensorflow=True)
    names = {r.split("=")[0].split(">")[0].lower() for r in kept}
    assert not names & set(colab.KEPT_FROM_COLAB), "Colab's TensorFlow, Keras, TensorBoard and kernel are kept"
    assert {"mediapipe", "dlib-bin", "papermill", "imageio-ffmpeg"} <= names
    assert "mediapipe" in kept, "exact pins are dropped beside Colab's TensorFlow, so pip fits them to it"
    assert not names & {"pytest", "playwright"}, "the dev and ui extras are not installed in Colab"
    full = colab.requirements(keep_tensorflow=False)
    assert any(r.startswith("tensorflow==") for r in full) and any(r.startswith("mediapipe==") for r in full)


def test_setup_works_from_the_notebooks_folder(tmp_path):
    here = os.getcwd()
    try:
        folder = colab.setup(tmp_path / "swaplab", install=False)
        assert folder == tmp_path / "swaplab" / "notebooks" and Path.cwd() == folder
    finally:
        os.chdir(here)
