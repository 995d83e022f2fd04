"""Runs you can trust (issue 27): nothing a user made is overwritten, banks go with the checkpoint that trained with
them, a save is one unit, an old export is said, provenance records what trained each stage, and a run can be
stripped of its face crops. Real Keras on the "tiny" model, seconds each."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from swaplab.model import provenance, runs
from swaplab.train.config import TrainConfig
from swaplab.train.loop import train
from swaplab.train.testing import synthetic_faces

SMALL = tuple(synthetic_faces(12, 32, person=p) for p in (0, 1))
_rng = np.random.default_rng(0)
LANDMARKS = _rng.uniform(30, 98, (1, 478, 2)).astype(np.float32) + _rng.normal(0, 3, (12, 478, 2)).astype(np.float32)
BIG = tuple((*synthetic_faces(12, 128, person=p), LANDMARKS) for p in (0, 1))  # with landmarks: exemplar banks


def config(tmp_path, **kw):
    base = dict(project="p", run="r", model="tiny", batch_size=4, steps=2, log_every=1, save_every=100,
                preview_every=1, weights_dir=str(tmp_path), learning_rate=1e-3, detail_size=128, detail_steps=2)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run with both stages and both exemplar banks."""
    cfg = config(tmp_path_factory.mktemp("trained"))
    train(cfg, data=SMALL, detail_data=BIG)
    return cfg


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_copied_export_only_run_is_not_overwritten_and_says_how_to_go_on(trained, tmp_path):
    copy = tmp_path / "p" / "copied"
    copy.mkdir(parents=True)
    for name in (runs.CONFIG, runs.EXPORT, runs.DETAIL_EXPORT, runs.HISTORY, "detail_bank_a.npz", "detail_bank_b.npz"):
        shutil.copy(trained.run_dir / name, copy / name)
    before = _files(copy)
    cfg = config(tmp_path, run="copied")
    with pytest.raises(ValueError, match=r"RUN='copied': .* holds a run's export.weights.h5, detail_export.weights.h5, "
                                         r"history.json, .* but not the checkpoint .* 03_train writes nothing there; .*"
                                         r"INIT_FROM='copied'"):
        train(cfg, data=SMALL, detail_data=BIG)
    assert _files(copy) == before and sorted(p.name for p in copy.iterdir()) == sorted(before)  # nothing written
    report = train(config(tmp_path, run="new", init_from="copied"), data=SMALL, detail_data=BIG)  # the advice works
    assert report["steps_done"] == 2 and _files(copy) == before


def test_a_resume_with_exemplars_off_keeps_the_banks_its_detail_stage_trained_with(trained, tmp_path, capsys):
    run = tmp_path / "p" / "r"
    shutil.copytree(trained.run_dir, run)
    banks = {n: (run / n).read_bytes() for n in ("detail_bank_a.npz", "detail_bank_b.npz")}
    train(config(tmp_path, detail_steps=4, detail_exemplars=False), data=SMALL, detail_data=BIG)
    assert runs.read_config(run)["detail_steps_done"] == 4  # it trained on ...
    assert {n: (run / n).read_bytes() for n in banks} == banks  # ... and kept the banks
    assert runs.read_config(run)["detail_banks"] == ["a", "b"]
    assert "DETAIL_EXEMPLARS=False: RUN='r' keeps person A's exemplar bank" in capsys.readouterr().out


def test_provenance_records_each_stage_and_person(trained):
    stages = runs.read_provenance(trained.run_dir)["stages"]
    assert set(stages) == {"autoencoder", "detail"} and set(stages["autoencoder"]) == {"a", "b"}
    a = stages["autoencoder"]["a"]
    assert a == provenance.of_arrays(SMALL[0][0]) and a["count"] == 12 and a["sources"] == [] and a["faces_dir"] == ""
    assert stages["detail"]["b"]["hash"] == provenance.of_arrays(BIG[1][0])["hash"] != stages["autoencoder"]["b"]["hash"]


def test_a_save_cut_short_after_its_commit_is_read_as_that_save_and_finished_by_the_next(trained, tmp_path, monkeypatch):
    run = tmp_path / "p" / "r"
    shutil.copytree(trained.run_dir, run)
    finished = []

    def cut(run_dir):  # the save's second finish (after save.json is written) never comes: killed there
        finished.append(run_dir)
        if len(finished) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(runs, "finish", cut)
    with pytest.raises(BaseException) as stopped:  # noqa: B017  (Interrupted: the cut comes as a Ctrl-C)
        train(config(tmp_path, steps=4), data=SMALL, detail_data=BIG)
    assert "interrupted by Ctrl-C" in str(stopped.value)
    monkeypatch.undo()
    assert (run / runs.JOURNAL).exists() and (run / (runs.PENDING + runs.EXPORT)).exists()
    assert runs.read_config(run)["steps_done"] == 4  # the committed save, read from its pending files
    assert runs.export_step(runs.path(run, runs.EXPORT)) == 4 and runs.read_history(run)[-1]["step"] == 4
    runs.finish(run)
    assert not (run / runs.JOURNAL).exists() and not list(run.glob(runs.PENDING + "*"))
    assert runs.export_step(run / runs.EXPORT) == 4 and runs.export_step(run / runs.DETAIL_EXPORT) == 2


def test_pending_files_without_a_commit_are_never_read(trained, tmp_path):
    run = tmp_path / "p" / "r"
    shutil.copytree(trained.run_dir, run)
    (run / (runs.PENDING + runs.CONFIG)).write_text('{"model": "tiny", "image_size": 32, "steps_done": 99}')
    assert runs.read_config(run)["steps_done"] == 2
    runs.finish(run)
    assert not list(run.glob(runs.PENDING + "*"))


def test_an_export_older_than_its_checkpoint_is_said_in_one_line_and_the_checkpoint_drawn(trained, tmp_path, capsys):
    run = tmp_path / "p" / "r"
    shutil.copytree(trained.run_dir, run)
    old = (run / runs.EXPORT).read_bytes()
    train(config(tmp_path, steps=4), data=SMALL, detail_data=BIG)
    (run / runs.EXPORT).write_bytes(old)  # as a save of an older run cut short between checkpoint and export left it
    capsys.readouterr()
    model = runs.load(run)
    line = capsys.readouterr().out.strip()
    assert line == (f"{run / runs.EXPORT} is from step 2, older than the checkpoint's step 4 (a save was cut short): "
                    f"loading the checkpoint, {runs.CHECKPOINT}, instead"), line
    fresh = runs.load(trained.run_dir)  # step 2's weights: the model drawn is not those
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), fresh.get_weights()))


def test_strip_keeps_the_export_drops_the_face_crops_and_says_what_is_lost(trained, tmp_path, capsys):
    run = tmp_path / "p" / "r"
    shutil.copytree(trained.run_dir, run)
    assert (run / "detail_bank_a.npz").exists() and (run / "previews").is_dir()
    out = subprocess.run([sys.executable, "-m", "swaplab.model.runs", "strip", str(run)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert "\n" not in line and "removed detail_bank_a.npz, detail_bank_b.npz, previews/" in line, line
    assert "keeps its export and can no longer draw with its detail stage's exemplars" in line, line
    assert not list(run.glob("detail_bank_*")) and not (run / "previews").exists() and (run / runs.EXPORT).exists()
    cascade = runs.load_cascade(run)
    assert cascade.detail is not None and "was stripped of its exemplar banks" in capsys.readouterr().out
    bad = subprocess.run([sys.executable, "-m", "swaplab.model.runs", "strip", str(tmp_path / "none")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
