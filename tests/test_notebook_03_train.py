"""03_train runs headless through papermill on the aligned sample faces, a few steps of the
"tiny" model, then resumes; ``aligned_project`` (tests/conftest.py) yields
(data_dir, weights_dir, project) with persons "a" and "b" aligned by 02_align."""

import json
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
    from swaplab import notebooks, train
    from swaplab.testing import synthetic_faces

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
