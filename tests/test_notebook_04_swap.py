"""04_swap runs headless through papermill on a GRID sample clip with a tiny trained run."""

import time

import pytest

from swaplab import SYNTHETIC_TAG
from swaplab.core import files, video
from swaplab.notebook.runner import run_notebook
from swaplab.train import testing


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """weights/nbswap/tiny: "lite" trained for 2 steps on synthetic faces (enough to load and swap)."""
    root = tmp_path_factory.mktemp("nb04")
    testing.tiny_run(root, "nbswap", model="lite")
    return root


@pytest.mark.notebook
def test_04_swap_on_a_sample_clip(tiny_run, tmp_path):
    data, weights = tiny_run / "data", tiny_run / "weights"
    params = {"PROJECT": "nbswap", "RUN": "tiny", "INPUT": "samples/grid/s1/bbaf2n.mpg", "DIRECTION": "a2b", "TARGET": "largest",
              "DURATION": 1.0, "SIDE_BY_SIDE": True, "BATCH_SIZE": 4, "DATA_DIR": str(data), "WEIGHTS_DIR": str(weights)}
    t0 = time.time()
    run_notebook("04_swap", params, tmp_path)
    assert time.time() - t0 < 120

    out = data / "nbswap" / "output" / "bbaf2n_a2b.mp4"
    info = video.probe(out)
    assert (info.width, info.height, info.frame_count, info.fps) == (720, 288, 25, 25.0)
    assert info.has_audio and info.tags["comment"] == SYNTHETIC_TAG
    reports = data / "nbswap" / "reports"
    summary = files.read_json(reports / "04_swap.json")
    assert (summary["frames"], summary["faces_swapped"], summary["direction"]) == (25, 25, "a2b")
    assert summary["pasted"] == {"frames": 25, "share": 1.0, "ranges": [[0, 24]]}  # for 05_evaluate's share
    # the one warning a run without a detail stage gets on GRID: its 64 px faces stretched ~2.8x
    assert summary["options"]["side_by_side"] is True and all("stretched" in w for w in summary["warnings"])
    assert summary["drawn_size"] == 64 and summary["stretch"] > 1  # "lite", no detail stage
    assert abs(summary["audio_s"] - 1.0) < 0.06
    assert (reports / "04_swap_strip.jpg").stat().st_size > 5_000
    assert (reports / "04_swap_preview.jpg").stat().st_size > 5_000


@pytest.mark.notebook
def test_04_swap_names_the_real_cause_of_an_image_renamed_mp4(tiny_run, tmp_path):
    import cv2
    import numpy as np

    from swaplab.notebook.runner import NotebookError

    fake = tmp_path / "photo.mp4"
    fake.write_bytes(cv2.imencode(".png", np.full((64, 64, 3), 128, np.uint8))[1].tobytes())
    params = {"PROJECT": "nbswap", "RUN": "tiny", "INPUT": str(fake), "DATA_DIR": str(tiny_run / "data"),
              "WEIGHTS_DIR": str(tiny_run / "weights")}
    with pytest.raises(NotebookError, match="INPUT=.*photo.mp4.*cannot tell its duration") as err:
        run_notebook("04_swap", params, tmp_path / "runs")
    assert "START" not in str(err.value)


@pytest.mark.notebook
def test_04_swap_a_batch_of_a_photo_a_clip_and_a_broken_file_by_identity(swapped_project, tmp_path):
    """INPUT a folder: a photo of A (s1) is swapped, the head-pose woman is not A and is left alone, a broken file is skipped."""
    from swaplab.core import assets, photos

    p = swapped_project
    folder = tmp_path / "inputs"
    folder.mkdir()
    still = next(iter(video.FrameReader(assets.fetch("samples/grid/s1/bbaf5a.mpg", progress=False), start=1.0))).image
    photos.write_image(folder / "s1_still.png", still, "", "")
    (folder / "woman.gif").write_bytes(assets.fetch("samples/headpose/head-pose-face-detection-female.gif",
                                                    progress=False).read_bytes())
    (folder / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    params = {"PROJECT": p["project"], "RUN": p["run"], "INPUT": str(folder), "OUTPUT": str(out), "DIRECTION": "a2b",
              "TARGET": "identity", "MASK": "hull-hair", "DATA_DIR": str(p["data_dir"]), "WEIGHTS_DIR": str(p["weights_dir"])}
    run_notebook("04_swap", params, tmp_path / "runs")
    rows = {r["input"].rsplit("/", 1)[-1]: r for r in files.read_json(p["data_dir"] / p["project"] / "reports" / "04_swap.json")["inputs"]}
    assert "broken.mp4" in rows["broken.mp4"]["error"] and not rows["broken.mp4"]["output"]
    assert rows["s1_still.png"]["faces_swapped"] == 1 and rows["s1_still.png"]["faces_seen"] == {"source": 1}
    assert rows["woman.gif"]["faces_swapped"] == 0 and rows["woman.gif"]["faces_seen"] == {"other": 23}
    assert rows["s1_still.png"]["pasted"]["frames"] == 1 and rows["woman.gif"]["pasted"]["share"] == 0.0
    assert photos.read_tag(out / "s1_still_a2b.png") == SYNTHETIC_TAG
    assert video.probe(out / "woman_a2b.mp4").tags["comment"] == SYNTHETIC_TAG
