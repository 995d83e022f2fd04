"""Every notebook's Colab setup installs SwapLab from SWAPLAB_SOURCE (a git URL, a zip or a wheel the user
gives), never from a guessed URL, and keeps a Keras 3 TensorFlow that Colab already has."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _setup_cell(path: Path) -> str:
    nb = json.loads(path.read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and "google.colab" in "".join(c["source"])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells with a Colab branch, want the setup cell only"
    return cells[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_setup_installs_from_the_users_source(path):
    from IPython.core.inputtransformer2 import TransformerManager

    src = _setup_cell(path)
    assert "github.com/swaplab" not in json.dumps(json.loads(path.read_text())), f"{path.name}: a guessed repository URL"
    assert 'SWAPLAB_SOURCE = ""' in src and "raise ValueError(\"set SWAPLAB_SOURCE" in src
    assert '--no-deps "{package}"' in src and "tf_version >= (2, 16)" in src  # Colab's TensorFlow is kept
    compile(TransformerManager().transform_cell(src), path.name, "exec")  # the magics inside parse


def test_every_notebook_has_the_same_colab_block():
    blocks = {p.name: _setup_cell(p).split("\n\n")[1] for p in NOTEBOOKS}
    assert len(set(blocks.values())) == 1, f"the Colab blocks differ: {sorted(blocks)}"
