"""02_align end to end through papermill: s1 as person a, s2 as person b, then the A/B report."""

import json
import shutil

import pytest

from swaplab.core import assets, paths
from swaplab.notebook import runner as notebooks


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


@pytest.mark.notebook
def test_02_align_with_no_readable_source_stops_with_the_reason(tmp_path):
    folder = paths.sources_dir(tmp_path, "nb", "x")
    folder.mkdir(parents=True)
    (folder / "notes.mp4").write_text("a text file, not a video")
    params = dict(PROJECT="nb", PERSON="x", COMPARE_WITH="", DATA_DIR=str(tmp_path), WORKERS=1)
    with pytest.raises(notebooks.NotebookError, match="FaceSetError: 02_align could read none of the 1 sources of person x"):
        notebooks.run_notebook("02_align", params, tmp_path / "runs")
    assert not paths.faces_dir(tmp_path, "nb", "x").exists()
    assert not (paths.reports_dir(tmp_path, "nb") / "02_align_x.json").exists()
