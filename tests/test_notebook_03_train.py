"""03_train runs headless through papermill on the aligned sample faces, a few steps of the
"tiny" model, then resumes, and a SIGTERM or Ctrl-C to the process running it saves and stops
it; ``aligned_project`` (tests/conftest.py) yields (data_dir, weights_dir, project) with persons
"a" and "b" aligned by 02_align."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_train.ipynb"


@pytest.mark.notebook
def test_03_train_runs_and_resumes(aligned_project, tmp_path):
    import papermill as pm

    data_dir, weights_dir, project = aligned_project
    params = dict(PROJECT=project, PERSON_A="a", PERSON_B="b", RUN="nb", MODEL="tiny", BATCH_SIZE=4, STEPS=4,
                  PREVIEW_EVERY=2, SAVE_EVERY=2, DATA_DIR=str(data_dir), WEIGHTS_DIR=str(weights_dir), SEED=0)
    for steps in (4, 6):
        pm.execute_notebook(str(NOTEBOOK), str(tmp_path / f"out{steps}.ipynb"), parameters={**params, "STEPS": steps},
                            cwd=str(NOTEBOOK.parent), kernel_name="python3", progress_bar=False)
    report = json.loads((Path(data_dir) / project / "reports" / "03_train.json").read_text())
    assert report["steps_done"] == 6 and report["resumed_from_step"] == 4
    run = Path(weights_dir) / project / "nb"
    assert (run / "checkpoint.weights.h5").exists() and (run / "loss.png").exists()
    assert (run / "previews" / "step_000006.png").exists() and (run / "preview_final.png").exists()


@pytest.mark.notebook
def test_03_train_init_from_errors_name_it_and_leave_no_run_folder(aligned_project, tmp_path):
    """A missing INIT_FROM and one of another MODEL fail in the parameters check, before any face is read."""
    from swaplab.notebook import runner as notebooks
    from swaplab.train import loop as train
    from swaplab.train.testing import synthetic_faces

    data_dir, _, project = aligned_project
    weights = tmp_path / "weights"
    train.train(train.TrainConfig(project=project, run="base", model="tiny", batch_size=4, steps=1, log_every=1,
                                  preview_every=1000, save_every=1000, weights_dir=str(weights)),
                data=(synthetic_faces(8, 32, person=0), synthetic_faces(8, 32, person=1)))
    params = dict(PROJECT=project, RUN="nbinit", MODEL="tiny", BATCH_SIZE=4, STEPS=2, DATA_DIR=str(data_dir),
                  WEIGHTS_DIR=str(weights))
    for init_from, model, words in (("missing", "tiny", "INIT_FROM='missing': "),
                                    ("base", "lite", "INIT_FROM='base' is a 'tiny' model at 32 px; MODEL='lite' cannot")):
        with pytest.raises(notebooks.NotebookError, match=words) as err:
            notebooks.run_notebook("03_train", {**params, "INIT_FROM": init_from, "MODEL": model}, tmp_path / init_from)
        assert "failed in cell 4 " in str(err.value), str(err.value)  # the parameters check, before any face is read
        assert not (weights / project / "nbinit").exists()  # no run folder holding only augmentation.png


# what swaplab.demo does with each notebook: run it through notebooks.run_notebook, one line and 128 + the signal
DRIVER = """
import json, sys
from swaplab.notebook import runner as notebooks
try:
    notebooks.run_notebook("03_train", json.loads(sys.argv[1]), sys.argv[2])
except notebooks.NotebookError as e:
    print(e, file=sys.stderr)
    sys.exit(128 + e.signum if e.signum else 1)
"""


@pytest.mark.notebook
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_headless_03_train_stopped_by_a_signal_saves_says_where_and_exits_non_zero(aligned_project, tmp_path, sig):
    """The signal reaches the driver, which passes it to the notebook's kernel (Jupyter starts it in a session of
    its own): the training cell saves the step reached, fails with the one line, and the driver exits 128 + it."""
    from swaplab.model import runs
    from swaplab.train import loop as train

    data_dir, weights_dir, project = aligned_project
    run = f"stop{int(sig)}"
    params = dict(PROJECT=project, RUN=run, MODEL="tiny", BATCH_SIZE=4, STEPS=100_000, SAVE_EVERY=2, SAVE_EVERY_MIN=0.0,
                  PREVIEW_EVERY=1000, DETAIL_SIZE=0, DATA_DIR=str(data_dir), WEIGHTS_DIR=str(weights_dir), SEED=0)
    run_dir = Path(weights_dir) / project / run
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(params), str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while not (runs.has_checkpoint(run_dir) and runs.read_config(run_dir)["steps_done"] >= 2):  # training
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.2)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    saved = runs.read_config(run_dir)["steps_done"]
    how = "SIGTERM" if sig == signal.SIGTERM else "Ctrl-C"
    line = (f"interrupted by {how} at step {saved} of 100000: saved {run_dir}; run 03_train again with RUN={run!r} "
            "to continue from there")
    assert proc.returncode == 128 + sig, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("03_train.ipynb failed in cell ") and f"Interrupted: {line}" in err, err
    executed = json.loads((tmp_path / "03_train.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert [e["traceback"] for e in errors] == [[line]]  # what the cell shows: the line, no traceback
    again = train.train(train.TrainConfig(project=project, run=run, model="tiny", batch_size=4, steps=saved + 2,
                                          detail_size=0, data_dir=str(data_dir), weights_dir=str(weights_dir)))
    assert (again["resumed_from_step"], again["steps_done"]) == (saved, saved + 2)
