"""TensorBoard logs of a run, the table of runs 06_compare shows, and the ETA under TIME_BUDGET_MIN."""

import json

from swaplab.core import files
from swaplab.judge import tracking
from swaplab.model import runs
from swaplab.train import loop as train
from swaplab.train.testing import synthetic_faces


def _tiny(tmp_path, run: str, steps: int) -> train.TrainConfig:
    config = train.TrainConfig(project="tr", run=run, model="tiny", batch_size=4, steps=steps, log_every=2,
                               preview_every=2, save_every=1000, warmup_steps=0, data_dir=str(tmp_path / "data"),
                               weights_dir=str(tmp_path / "weights"))
    train.train(config, data=tuple(synthetic_faces(8, config.image_size, person=p) for p in (0, 1)))
    return config


def test_a_run_writes_tensorboard_logs_and_fills_the_table(tmp_path):
    config = _tiny(tmp_path, "r1", 4)
    _tiny(tmp_path, "r2", 2)
    scalars = tracking.read_scalars(config.run_dir / runs.TENSORBOARD)
    assert [s for s, _ in scalars["loss/a"]] == [2, 4] and len(scalars["loss/b"]) == 2
    assert scalars["learning_rate"][-1][1] > 0 and scalars["faces_per_s"][-1][1] > 0
    history = files.read_json(config.run_dir / "history.json")
    assert abs(scalars["loss/a"][-1][1] - history[-1]["loss_a"]) < 1e-6
    import tensorflow as tf

    images = [v for f in (config.run_dir / runs.TENSORBOARD).glob("events.*")
              for e in tf.compat.v1.train.summary_iterator(str(f)) for v in e.summary.value if v.tag.startswith("preview")]
    assert len(images) >= 2  # steps 2 and 4 (and the end)

    # 05_evaluate's result for r1 in the project's reports: it joins r1's row only
    reports = tmp_path / "data" / "tr" / "reports"
    files.write_json(reports / "metrics_a2b.json", {"run": "r1", "direction": "a2b", "summary": {"detail_ratio": 0.5}})
    rows = tracking.runs_table(tmp_path / "data", tmp_path / "weights", "tr")
    assert [r["run"] for r in rows] == ["r1", "r2"] and [r["steps"] for r in rows] == [4, 2]
    assert rows[0]["a2b detail_ratio"] == 0.5 and "a2b detail_ratio" not in rows[1]
    assert rows[0]["loss_a"] == history[-1]["loss_a"] and rows[0]["minutes"] >= 0
    text = tracking.format_table(rows)
    assert text.splitlines()[0].startswith("run") and len(text.splitlines()) == 3
    json.dumps(rows)  # JSON-ready for reports


def test_the_planned_end_follows_the_time_budget():
    config = train.TrainConfig(project="p", steps=10_000, time_budget_min=1.0)
    # 100 steps in the first 10 s: the 60 s budget ends near step 600, not at STEPS
    assert train.planned_steps(config, 0, 100, 10.0) == 600
    assert train.planned_steps(config, 0, 100, 70.0) == 100  # past the budget: it ends now
    assert train.planned_steps(train.TrainConfig(project="p", steps=500, time_budget_min=1.0), 0, 100, 10.0) == 500
    assert train.planned_steps(train.TrainConfig(project="p", steps=500), 0, 100, 10.0) == 500  # no budget


def test_the_demo_passes_on_training_progress_lines_only(capsys):
    from swaplab.demo import TrainingLines

    lines = TrainingLines(every=0)
    lines.write("run folder: x\nstep 10/~300 in TIME_BUDGET_MIN  loss_a 0.3  ETA 1.0 min\n")
    lines.write("{\\n \"run\": 1}\n")
    assert capsys.readouterr().out == "      step 10/~300 in TIME_BUDGET_MIN  loss_a 0.3  ETA 1.0 min\n"
