"""Shared fixtures: the offline mirror, and small real projects built by the real pipeline.

The project fixtures are session-scoped and built once: each later stage
(aligned faces -> a trained run -> a swapped video) reuses the one before it,
the same way the notebooks hand work to each other through the disk.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A test runner started as a background job by a non-interactive shell (`cmd &` in a script) inherits SIGINT
# ignored, and so would every process a test starts: the Ctrl-C tests must see SIGINT as a terminal sends it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from swaplab.core import assets  # noqa: E402  (after the TF log level is set)

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session", autouse=True)
def _mirror():
    """Tests read the pinned files from ../shared unless SWAPLAB_MIRROR already points somewhere."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SWAPLAB_MIRROR", str(assets.mirror_dir() or SHARED))
        yield


def _once(tmp_path_factory, name: str, build) -> Path:
    """A folder ``build(folder)`` fills once per session. Each pytest-xdist worker has a session, and so its own
    folder: tests write runs and reports into these projects, and two workers must not race on them."""
    folder = tmp_path_factory.mktemp(name)
    build(folder)
    return folder


@pytest.fixture(scope="session")
def aligned_project(tmp_path_factory):
    """(data_dir, weights_dir, project): one s1 clip as person "a", one s2 clip as "b", aligned by 02_align's code."""
    from swaplab.align import build
    from swaplab.core import paths

    def make(root: Path) -> None:
        data = root / "data"
        for person, key in (("a", "samples/grid/s1/bbaf2n.mpg"), ("b", "samples/grid/s2/pwij3p.mpg")):
            src = paths.sources_dir(data, "t", person)
            src.mkdir(parents=True)
            shutil.copy(assets.fetch(key, data_dir=data), src)
            build.align_person(data, "t", person, face_size=128, sample_fps=12.5, workers=1, progress=False)

    root = _once(tmp_path_factory, "aligned", make)
    return root / "data", root / "weights", "t"


@pytest.fixture(scope="session")
def bank(aligned_project):
    """The exemplar bank of ``aligned_project``'s person b (real GRID faces and MediaPipe meshes, crops at 128 px)."""
    from swaplab.face.faceset import load_training_arrays
    from swaplab.model import exemplars

    data, _, project = aligned_project
    folder = data / project / "b" / "faces"
    return exemplars.bank_of(folder, load_training_arrays(folder, 128)[0])


@pytest.fixture(scope="session")
def swapped_project(aligned_project, tmp_path_factory):
    """A few training steps on the aligned faces, then an s1 clip never trained on, swapped a2b side by side."""
    from swaplab.core import paths
    from swaplab.swap import pipeline as swap
    from swaplab.train import loop as train

    data, weights, project = aligned_project
    clip = assets.cache_path("samples/grid/s1/bbir8p.mpg", data)
    out = paths.output_file(data, project, clip, "a2b")

    def build(_root: Path) -> None:
        config = train.TrainConfig(project=project, run="tiny", model="tiny", batch_size=4, steps=4, log_every=1,
                                   preview_every=1000, save_every=1000, data_dir=str(data), weights_dir=str(weights))
        train.train(config)
        assert assets.fetch("samples/grid/s1/bbir8p.mpg", data_dir=data) == clip
        options = swap.SwapOptions(direction="a2b", duration=1.2, side_by_side=True, batch_size=4)
        swap.convert(clip, paths.run_dir(weights, project, "tiny"), out, options, progress=False, project=project)

    _once(tmp_path_factory, "swapped", build)
    return dict(data_dir=data, weights_dir=weights, project=project, run="tiny", input=clip, swapped=out, direction="a2b")


_LOG_LINE = re.compile(r"^[WEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]", re.M)  # absl/glog warning, error, fatal


@pytest.fixture(autouse=True)
def _no_log_lines_in_notebooks(request, tmp_path):
    """After a notebook test: no cell of the notebooks it executed (under tmp_path) printed a W/E-level
    library log line (swaplab.core.quiet keeps TensorFlow's and MediaPipe's chatter out of the outputs)."""
    yield
    if request.node.get_closest_marker("notebook") is None:
        return
    for path in sorted(tmp_path.rglob("*.ipynb")):
        for cell in json.loads(path.read_text()).get("cells", []):
            for out in cell.get("outputs", []):
                text = "".join(out.get("text", "")) if out.get("output_type") == "stream" else ""
                found = _LOG_LINE.search(text)
                assert not found, f"{path.name} printed a library log line: {text[found.start():][:200]!r}"
