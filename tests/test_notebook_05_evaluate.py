"""05_evaluate runs headless through papermill on a small trained run and its swapped video, and writes metrics.json."""

import json
import time
from pathlib import Path

import pytest

from swaplab import evaluate, paths
from swaplab.notebooks import run_notebook


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
    text = (reports / "metrics.json").read_text()
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
    assert "identity retrieval" in out and "pose error (deg)" in out
