"""05_evaluate runs headless through papermill on a small trained run and its swapped video, and writes metrics.json."""

import json
import time
from pathlib import Path

import pytest

from swaplab.core import paths
from swaplab.judge import evaluate
from swaplab.notebook.runner import run_notebook


@pytest.mark.notebook
def test_05_evaluate_on_a_swapped_run(swapped_project, tmp_path):
    p = swapped_project  # dict(data_dir, weights_dir, project, run, input, swapped, direction), from conftest
    params = {"PROJECT": p["project"], "RUN": p["run"], "INPUT": str(p["input"]), "SWAPPED": str(p["swapped"]),
              "DIRECTION": p["direction"], "HOLDOUT_FACES": 8, "DATA_DIR": str(p["data_dir"]),
              "WEIGHTS_DIR": str(p["weights_dir"]), "INTERACTIVE": False}
    t0 = time.time()
    executed = run_notebook("05_evaluate", params, tmp_path)
    assert time.time() - t0 < 180

    reports = paths.reports_dir(p["data_dir"], p["project"])
    text = (reports / "metrics_a2b.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON: None where a frame has no value
    m = json.loads(text)
    assert (m["project"], m["run"], m["direction"]) == (p["project"], p["run"], p["direction"])
    s = m["summary"]
    assert s["frames"] > 0 and s["input_faces_found"] > 0.9 and 0 <= s["faces_found"] <= 1
    assert set(evaluate.TARGETS) <= set(s) and set(m["met"]) == set(evaluate.TARGETS)
    assert len(m["per_frame"]["pose_error"]) == s["frames"]
    assert set(m["reconstruction"]) == {"a", "b"}
    assert all(Path(f).stat().st_size > 10_000 for f in m["figures"])
    # the summary table is in the executed notebook's output
    texts = [o.get("text", "") for c in json.loads(executed.read_text())["cells"] for o in c.get("outputs", [])]
    out = "".join("".join(t) if isinstance(t, list) else t for t in texts)  # nbformat stores text as str or lines
    assert "identity retrieval (2-way" in out and "pose error (deg)" in out and "fine / mid detail vs input" in out
    assert s["detail_frames"] > 0 and s["detail_ratio"] is not None and s["identity_candidates"] == 2
    # a few training steps draw nothing like the input's face: every frame with a face got one pasted
    assert s["pasted_share"] >= 0.95 and s["pasted_share_from"].startswith("derived") and m["met"]["pasted_share"]
    assert m["seen"]["seen"] is False and "leak guard: bbir8p.mpg (sha256" in out and "faces pasted" in out
    assert s["mouth_sync_frames"] > 0 and "mouth sync: inner-lip gap r" in out and "gaze, left eye" in out
    assert s["exemplar_distance_median"] > 0 and s["lookup_fine"] is None  # the lookup is scored for self-swaps only


@pytest.mark.notebook
def test_05_evaluate_a_self_swap(swapped_project, tmp_path):
    """a2a: A through A's own decoder, pasted back; scored against the real frames (face SSIM, detail)."""
    from swaplab.swap import pipeline as swap

    p = swapped_project
    out = paths.output_file(p["data_dir"], p["project"], p["input"], "a2a")
    swap.convert(p["input"], paths.run_dir(p["weights_dir"], p["project"], p["run"]), out,
                 swap.SwapOptions(direction="a2a", duration=1.2, batch_size=4), progress=False, project=p["project"])
    params = {"PROJECT": p["project"], "RUN": p["run"], "INPUT": str(p["input"]), "DIRECTION": "a2a", "HOLDOUT_FACES": 4,
              "IDENTITY_FRAMES": 4, "DATA_DIR": str(p["data_dir"]), "WEIGHTS_DIR": str(p["weights_dir"])}
    run_notebook("05_evaluate", params, tmp_path)
    m = json.loads((paths.reports_dir(p["data_dir"], p["project"]) / "metrics_a2a.json").read_text())
    assert (m["source"], m["target"]) == ("a", "a") and set(m["reconstruction"]) == {"a"}
    s = m["summary"]
    assert 0 < s["face_ssim"] < 1 and s["detail_ratio"] is not None and s["identity_candidates"] == 2  # a, and b as the other
    assert s["lookup_fine"] is not None and m["exemplars"]  # beside the self-swap: a's nearest exemplar pasted
    assert sum(t["frames"] for t in s["thirds"].values()) == s["detail_frames"] and "far third (" in m["table"]
    assert not m["table"].startswith("SEEN")


@pytest.mark.notebook
def test_05_evaluate_labels_a_seen_self_swap(swapped_project, tmp_path):
    """A self-swap on the clip a's face set was made from (a renamed copy: known by its bytes) is scored only with
    ALLOW_SEEN=True, and then every figure says SEEN."""
    import shutil

    from swaplab.swap import pipeline as swap

    p = swapped_project
    clip = tmp_path / "renamed.mpg"
    shutil.copy(next(paths.sources_dir(p["data_dir"], p["project"], "a").glob("*.mpg")), clip)
    out = tmp_path / "renamed_a2a.mp4"
    swap.convert(clip, paths.run_dir(p["weights_dir"], p["project"], p["run"]), out,
                 swap.SwapOptions(direction="a2a", duration=0.6, batch_size=4), progress=False, project=p["project"])
    params = {"PROJECT": p["project"], "RUN": p["run"], "INPUT": str(clip), "SWAPPED": str(out), "DIRECTION": "a2a",
              "HOLDOUT_FACES": 0, "IDENTITY_FRAMES": 2, "ALLOW_SEEN": True, "DATA_DIR": str(p["data_dir"]),
              "WEIGHTS_DIR": str(p["weights_dir"])}
    run_notebook("05_evaluate", params, tmp_path)
    m = json.loads((paths.reports_dir(p["data_dir"], p["project"]) / "metrics_a2a.json").read_text())
    assert m["seen"]["seen"] and m["seen"]["overlap"][0]["person"] == "a"
    assert m["table"].startswith("SEEN: renamed.mpg (sha256 ")
    import cv2

    for png in m["figures"][1:]:  # the frame and face strips carry the label in their top-left corner
        assert (cv2.imread(png)[:3, :30] == 0).all(), png
