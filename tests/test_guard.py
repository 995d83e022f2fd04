"""The collapse guard (``swaplab.train.guard``): a real run of 03_train's loop on real GRID faces, broken on purpose.

A collapse is made as it happens: the decoders' output layers blown up mid-run (their outputs saturate, the loss
jumps and stays), or a weight set to NaN. The guard must put back the last good weights and optimizer state, go on at
a lower learning rate, list the rescue in the run's report, and stop at good weights when the collapses go on.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from swaplab.train import guard
from swaplab.train import loop as train


class Break(keras.callbacks.Callback):
    """Before the steps in ``at``, blows up both decoders' output layers (x ``gain``) or, for a step in ``nan``, sets
    one of their weights to NaN."""

    def __init__(self, at, nan=(), gain=40.0):
        super().__init__()
        self.at, self.nan, self.gain, self.step = set(at), set(nan), gain, 0

    def on_train_batch_begin(self, batch, logs=None):
        self.step = int(self.model.optimizer.iterations.numpy())
        if self.step in self.at | self.nan:
            for decoder in (self.model.decoder_a, self.model.decoder_b):
                kernel = [w for w in decoder.weights if "kernel" in w.path][-1]
                value = np.array(kernel) * self.gain
                if self.step in self.nan:
                    value.flat[0] = np.nan
                kernel.assign(value)


def _config(aligned_project, tmp_path, steps):
    data, _, project = aligned_project
    return train.TrainConfig(project=project, run="guarded", model="tiny", batch_size=4, steps=steps, log_every=5,
                             warmup_steps=0, preview_every=10**6, save_every=10**6, detail_size=0,
                             data_dir=str(data), weights_dir=str(tmp_path))


def test_a_collapse_goes_back_to_good_weights_at_a_lower_rate(aligned_project, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(guard, "SNAPSHOT_EVERY", 10)
    config = _config(aligned_project, tmp_path, 60)
    report = train.train(config, callbacks=[Break(at=[30])])
    (event,) = report["collapses"]
    assert event["step"] == 35 and event["back_to_step"] in (20, 25, 30) and event["lr_scale"] == guard.LR_CUT
    assert event["loss"] > guard.FACTOR * event["best"] and not event["stopped"]
    out = capsys.readouterr().out
    assert "step 35: the loss (A + B) jumped to" in out and f"back to the weights of step {event['back_to_step']}" in out
    history = {r["step"]: r for r in train.runs.read_history(config.run_dir)}
    before = history[event["back_to_step"]]["loss_a"] + history[event["back_to_step"]]["loss_b"]
    after = history[60]["loss_a"] + history[60]["loss_b"]
    assert after < 1.5 * before  # trained on from the good weights, not from the collapse
    # the rate from then on is the schedule's (cosine, no warm-up) times LR_CUT: its peak read before and after
    peak = {step: history[step]["lr"] / _cosine((step - 1) / 60) for step in (30, 60)}
    assert peak[60] == pytest.approx(guard.LR_CUT * peak[30], rel=0.02)


def _cosine(progress):
    from swaplab.train.schedule import LR_FLOOR

    return LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + np.cos(np.pi * progress))

def test_collapses_that_go_on_stop_the_stage_at_good_weights(aligned_project, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(guard, "SNAPSHOT_EVERY", 10)
    monkeypatch.setattr(guard, "MAX_RESCUES", 2)
    config = _config(aligned_project, tmp_path, 200)
    report = train.train(config, callbacks=[Break(at=[30], nan=[50])])
    first, second = report["collapses"]
    assert second["loss"] is None and second["stopped"] and not first["stopped"]  # NaN counts as a collapse
    assert report["steps_done"] < 80  # stopped, not trained on to 200 on broken weights
    assert "collapsed 2 times; stopped at the weights of step" in capsys.readouterr().out
    model = train.runs.load(config.run_dir)  # what was saved is the good copy: finite, and it draws a face
    assert all(np.isfinite(np.array(w)).all() for w in model.weights)
    faces = train.load_training_data(config)[1][0][:4]
    out = model.reconstruct(faces, "b", 4)
    assert np.isfinite(out).all() and 0.02 < float(out.std()) and float(np.abs(out - faces / 255.0).mean()) < 0.3
