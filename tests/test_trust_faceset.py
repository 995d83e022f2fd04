"""Provenance from real face sets (issue 27): a run records each source by name and SHA-256, and a re-align between
the autoencoder and the detail stage is caught by the face set's hash, in one line saying what changed. The face sets
are conftest's ``aligned_project`` (MediaPipe on GRID clips), copied so the re-align does not touch it."""

import hashlib
import shutil

import keras
import numpy as np
import pytest

from swaplab.align import build
from swaplab.core import paths
from swaplab.face.faceset import FaceSet, load_training_arrays
from swaplab.model import exemplars, runs
from swaplab.train.config import TrainConfig
from swaplab.train.data import FaceSetChanged
from swaplab.train.loop import train


def _config(data, weights, **kw):
    return TrainConfig(**{**dict(project="t", run="r", model="tiny", batch_size=4, steps=2, log_every=1, save_every=100,
                                 preview_every=100, detail_size=128, detail_steps=2, data_dir=str(data),
                                 weights_dir=str(weights)), **kw})


def test_a_re_align_between_the_stages_is_caught_by_hash_and_sources_are_recorded_by_sha256(aligned_project, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(aligned_project[0], data)
    faces_b = paths.faces_dir(data, "t", "b")
    before = len(FaceSet(faces_b))
    stricter = float(np.median([r["blur"] for r in FaceSet(faces_b).kept()]))  # about half the faces pass it

    class ReAlign(keras.callbacks.Callback):
        """02_align run again (a stricter BLUR_MIN) while the autoencoder trains: the detail stage must notice."""

        def on_train_end(self, logs=None):
            if not self.model.name.startswith("detail"):
                build.align_person(data, "t", "b", face_size=128, sample_fps=12.5, blur_min=stricter, workers=1, progress=False)

    cfg = _config(data, tmp_path / "weights")
    with pytest.raises(FaceSetChanged) as caught:
        train(cfg, callbacks=[ReAlign()])
    after = len(FaceSet(faces_b))
    assert 0 < after < before
    line = str(caught.value)
    assert "\n" not in line and line.startswith(f"person 'b''s face set {faces_b.resolve()} changed ({before} -> {after} faces; "
                                                "the same sources, aligned again"), line
    assert "since the autoencoder loaded it this session" in line and "run 03_train again with RUN='r'" in line

    # what the autoencoder's save recorded: each source by name and the SHA-256 of its file
    a = runs.read_provenance(cfg.run_dir)["stages"]["autoencoder"]["a"]
    source = next(p for p in paths.sources_dir(data, "t", "a").iterdir() if p.suffix == ".mpg")
    assert a["sources"] == [{"name": source.stem, "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                             "faces": a["count"], "time": a["sources"][0]["time"]}]
    assert 0.0 <= a["sources"][0]["time"][0] < a["sources"][0]["time"][1] <= 3.0  # its faces' first and last time
    assert (cfg.run_dir / "fingerprints.npz").is_file()  # their fingerprints, for 05's leak guard
    assert a["hash"] == FaceSet(paths.faces_dir(data, "t", "a")).content_hash() and a["count"] > 10
    assert a["faces_dir"] == str(paths.faces_dir(data, "t", "a").resolve())

    # run again: both stages load the face set as it is now; the detail stage trains and records it, its banks the names
    report = train(cfg)
    assert report["detail"]["steps_done"] == 2
    stages = runs.read_provenance(cfg.run_dir)["stages"]
    assert stages["detail"]["b"]["hash"] == FaceSet(faces_b).content_hash()
    assert stages["autoencoder"]["b"]["hash"] != stages["detail"]["b"]["hash"]  # it trained on the faces before (it was done)
    assert stages["detail"]["b"]["count"] == after
    images, _ = load_training_arrays(faces_b, 128)  # a bank of the face set stores its sources' names
    saved = exemplars.bank_of(faces_b, images).save(tmp_path / "bank.npz")
    assert exemplars.ExemplarBank.load(saved).names == [s["name"] for s in stages["detail"]["b"]["sources"]]
