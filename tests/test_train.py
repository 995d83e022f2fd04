"""train: learning, checkpoints that survive a kill mid-save, resume, warm start, clear
refusals, and MirroredStrategy on two logical CPUs. Real Keras, the "tiny" model, seconds each."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from swaplab.model import runs
from swaplab.train.config import TrainConfig
from swaplab.train.data import make_training_dataset
from swaplab.train.loop import train
from swaplab.train.testing import synthetic_faces
from swaplab.train.warmstart import steps_to_loss

DATA = (synthetic_faces(12, 32, person=0), synthetic_faces(12, 32, person=1))


def config(tmp_path, **kw):
    base = dict(project="p", run="r1", model="tiny", batch_size=4, steps=4, log_every=2, save_every=2,
                preview_every=100, weights_dir=str(tmp_path), learning_rate=1e-3)
    return TrainConfig(**{**base, **kw})


def test_a_few_steps_lower_the_loss():
    from swaplab.model.models import build_swap_model

    keras.utils.set_random_seed(0)
    model = build_swap_model("tiny")
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    batch = next(iter(make_training_dataset(*DATA, batch_size=4, seed=0)))
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    first = model.evaluate(ds, steps=1, verbose=0, return_dict=True)
    model.fit(ds, steps_per_epoch=15, epochs=1, verbose=0, shuffle=False)
    last = model.evaluate(ds, steps=1, verbose=0, return_dict=True)
    assert last["loss_a"] < 0.8 * first["loss_a"] and last["loss_b"] < 0.8 * first["loss_b"]


def test_dataset_batches_are_dicts_of_augmented_faces():
    batch = next(iter(make_training_dataset(*DATA, batch_size=3, seed=1)))
    assert set(batch) == {f"{k}_{s}" for k in ("warped", "target", "mask") for s in "ab"}
    assert batch["warped_a"].shape == (3, 32, 32, 3) and batch["mask_b"].shape == (3, 32, 32, 2)


def test_train_writes_run_and_resume_continues(tmp_path):
    cfg = config(tmp_path)
    report = train(cfg, data=DATA)
    run = cfg.run_dir
    assert report["steps_done"] == 4 and runs.read_config(run)["steps_done"] == 4
    for name in ("config.json", "checkpoint.weights.h5", "history.json", "loss.png", "train_report.json"):
        assert (run / name).exists(), name
    assert (run / "previews" / "step_000004.png").exists()  # drawn at the end of every session
    cfg.steps = 6
    report = train(cfg, data=DATA)
    assert (report["resumed_from_step"], report["steps_done"], report["steps_this_session"]) == (4, 6, 2)
    history = json.loads((run / "history.json").read_text())
    assert [h["step"] for h in history] == [2, 4, 6]
    assert runs.load(run).swap(DATA[0][0][:2]).shape == (2, 32, 32, 3)


def test_partial_temp_file_leaves_checkpoint_loadable(tmp_path):
    cfg = config(tmp_path, steps=2)
    train(cfg, data=DATA)
    (cfg.run_dir / ".checkpoint.weights.h5.x1y2.weights.h5").write_bytes(b"\x89HDF\r\n half a file")
    before = runs.load(cfg.run_dir).get_weights()
    cfg.steps = 4
    assert train(cfg, data=DATA)["resumed_from_step"] == 2
    assert not np.allclose(before[0], runs.load(cfg.run_dir).get_weights()[0])


def test_process_killed_mid_save_keeps_previous_checkpoint(tmp_path):
    cfg = config(tmp_path, steps=2)
    train(cfg, data=DATA)
    before = runs.load(cfg.run_dir).get_weights()
    # a second session that is SIGKILLed after writing half of its checkpoint file
    script = textwrap.dedent(f"""
        import os, signal, keras
        from swaplab.train.testing import synthetic_faces
        from swaplab.train.loop import TrainConfig, train
        real = keras.Model.save_weights
        def dying_save(self, path, **kw):
            real(self, path, **kw)
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        keras.Model.save_weights = dying_save
        cfg = TrainConfig(**{json.dumps(dict(project="p", run="r1", model="tiny", batch_size=4, steps=4,
                                             log_every=2, save_every=2, preview_every=100,
                                             weights_dir=str(tmp_path), learning_rate=1e-3))})
        train(cfg, data=(synthetic_faces(12, 32, 0), synthetic_faces(12, 32, 1)))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert runs.read_config(cfg.run_dir)["steps_done"] == 2
    after = runs.load(cfg.run_dir).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(before, after))


def test_warm_start_loads_weights_and_trains_with_fresh_optimizer(tmp_path):
    train(config(tmp_path), data=DATA)
    source = runs.load(config(tmp_path).run_dir).get_weights()
    seen = {}

    class Grab(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["weights"] = self.model.get_weights()
            seen["step"] = int(self.model.optimizer.iterations)

    report = train(config(tmp_path, run="r2", init_from="r1", steps=2), callbacks=[Grab()], data=DATA)
    assert seen["step"] == 0 and all(np.array_equal(x, y) for x, y in zip(source, seen["weights"]))
    assert report["steps_done"] == 2 and report["warm_start"]["init_from"] == "r1"
    assert "steps_saved" in report["warm_start"]


def test_other_architecture_is_refused_clearly(tmp_path):
    train(config(tmp_path, steps=2), data=DATA)
    with pytest.raises(ValueError, match=r"'tiny' model at 32 px.*MODEL='tiny'"):
        train(config(tmp_path, run="r2", init_from="r1", model="lite"), data=DATA)
    with pytest.raises(ValueError, match=r"holds a 'tiny' model"):
        train(config(tmp_path, model="lite"), data=DATA)  # resuming r1 as another model


def test_missing_run_and_bad_parameters_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing does not exist: train it with 03_train"):
        runs.load(tmp_path / "p" / "nothing")
    (tmp_path / "p" / "empty").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="empty has no checkpoint: run 03_train first"):
        runs.load(tmp_path / "p" / "empty")
    with pytest.raises(ValueError, match="BATCH_SIZE"):
        config(tmp_path, batch_size=0).validate(faces=False)
    with pytest.raises(ValueError, match="MODEL='big'"):
        config(tmp_path, model="big").validate(faces=False)
    with pytest.raises(ValueError, match="faces but BATCH_SIZE=64"):
        train(config(tmp_path, batch_size=64), data=DATA)


def test_steps_to_loss():
    history = [{"step": s, "loss_a": 1 / s, "loss_b": 1 / s} for s in (10, 20, 40)]
    assert steps_to_loss(history, 0.06) == 20 and steps_to_loss(history, 0.01) is None


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from swaplab.train.testing import synthetic_faces
        from swaplab.train.loop import TrainConfig, train
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        cfg = TrainConfig(project="p", run="m", model="tiny", batch_size=4, steps=2, log_every=1,
                          weights_dir={str(tmp_path)!r})
        report = train(cfg, data=(synthetic_faces(8, 32, 0), synthetic_faces(8, 32, 1)), strategy=strategy)
        print("REPLICAS", report["replicas"], "STEPS", report["steps_done"], "LOSS", report["final_loss_a"])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("REPLICAS")][0].split()
    assert line[1] == "2" and line[3] == "2" and np.isfinite(float(line[5]))
