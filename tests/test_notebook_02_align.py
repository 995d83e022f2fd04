"""02_align end to end through papermill: s1 as person a, s2 as person b, then the A/B report."""

import json
import shutil

import pytest

from swaplab import assets, notebooks, paths


@pytest.mark.notebook
def test_02_align_on_s1_and_s2(tmp_path):
    clips = {"a": ["samples/grid/s1/bbaf2n.mpg"], "b": ["samples/grid/s2/pwij3p.mpg"]}
    for person, keys in clips.items():
        folder = paths.sources_dir(tmp_path, "nb", person)
        folder.mkdir(parents=True)
        for k in keys:
            shutil.copy(assets.fetch(k), folder)
    params = dict(PROJECT="nb", DATA_DIR=str(tmp_path), SAMPLE_FPS=5, WORKERS=1)  # 15 frames a clip, in-process
    notebooks.run_notebook("02_align", {**params, "PERSON": "a", "COMPARE_WITH": ""}, tmp_path / "runs_a")
    notebooks.run_notebook("02_align", {**params, "PERSON": "b", "COMPARE_WITH": "a"}, tmp_path / "runs_b")
    reports = paths.reports_dir(tmp_path, "nb")
    summary = json.loads((reports / "02_align_b.json").read_text())
    assert summary["kept"] > 10 and summary["coverage"]["names"] == {"a": "a", "b": "b"}
    assert any("b has" in w and "300 is the floor" in w for w in summary["warnings"])
    for png in ("02_align_b_kept.png", "02_align_b_dropped.png", "02_align_b_coverage.png"):
        assert (reports / png).stat().st_size > 5000
