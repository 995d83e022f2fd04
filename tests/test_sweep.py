"""swaplab.notebook.sweep runs 03_train -> 04_swap -> 05_evaluate over a grid on tiny data, and 06_compare shows the runs."""

import pytest

from swaplab.core import files
from swaplab.judge import tracking
from swaplab.notebook import sweep


def test_grid_names_and_bad_grids():
    runs = sweep.grid_runs({"LEARNING_RATE": [5e-4, 1e-4], "WARP_END": [1.0]})
    assert runs == [("sweep-learning_rate-0.0005-warp_end-1.0", {"LEARNING_RATE": 5e-4, "WARP_END": 1.0}),
                    ("sweep-learning_rate-0.0001-warp_end-1.0", {"LEARNING_RATE": 1e-4, "WARP_END": 1.0})]
    with pytest.raises(ValueError, match="sweep grid steps=.*UPPER_CASE"):
        sweep.grid_runs({"steps": [1, 2]})
    with pytest.raises(ValueError, match="non-empty list"):
        sweep.grid_runs({"STEPS": []})


@pytest.mark.notebook
def test_sweep_fills_the_table_and_06_compare_shows_it(aligned_project, tmp_path):
    from swaplab.notebook.runner import run_notebook

    data, weights, project = aligned_project
    common = {"DATA_DIR": str(data), "WEIGHTS_DIR": str(weights), "INPUT": "samples/grid/s1/bbir8p.mpg",
              "DIRECTION": "a2b"}
    rows = sweep.sweep(project, {"LEARNING_RATE": [5e-4, 1e-4]}, common=common,
                       train={"MODEL": "tiny", "BATCH_SIZE": 4, "STEPS": 2, "PREVIEW_EVERY": 2},
                       swap={"DURATION": 0.4, "BATCH_SIZE": 4},
                       evaluate={"IDENTITY_FRAMES": 2, "HOLDOUT_FACES": 0}, prefix="sw", out_dir=tmp_path / "runs")
    mine = {r["run"]: r for r in rows if r["run"].startswith("sw-")}
    assert sorted(mine) == ["sw-learning_rate-0.0001", "sw-learning_rate-0.0005"]
    for name, row in mine.items():
        assert row["model"] == "tiny" and row["steps"] == 2 and row["loss_a"] > 0
        assert row["a2b detail_ratio"] is not None, f"{name}: no metrics of 05_evaluate in the table: {row}"
        assert files.read_json(weights / project / name / "metrics_a2b.json")["run"] == name

    out = run_notebook("06_compare", {"PROJECT": project, "RUNS": sorted(mine), "DATA_DIR": str(data),
                                      "WEIGHTS_DIR": str(weights)}, tmp_path / "06")
    report = files.read_json(data / project / "reports" / "06_compare.json")
    assert [r["run"] for r in report["runs"]] == sorted(mine)
    assert all((data / project / "reports" / f).stat().st_size > 5_000
               for f in ("06_compare_losses.png", "06_compare_previews.png"))
    assert "sw-learning_rate-0.0001" in out.read_text()  # the printed table
    assert tracking.format_table(report["runs"]).count("\n") == 2
