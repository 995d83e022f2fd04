"""Stopping a training run and going on (issue 20): Ctrl-C and SIGTERM save the step reached and say so in one
line, a wall-clock checkpoint comes by time, and the next ``train`` resumes from exactly that step.

Real processes and real signals: a subprocess trains the "tiny" model on synthetic faces, the test sends it
SIGINT (what Ctrl-C and Jupyter's "Interrupt kernel" send) or SIGTERM once it is training, then trains the same
run on in this process. Seconds to tens of seconds each.
"""

import signal
import subprocess
import sys
import textwrap
import time

import keras
import pytest

from swaplab.model import runs
from swaplab.train.loop import Interrupted, TrainConfig, train
from swaplab.train.testing import synthetic_faces

DATA = (synthetic_faces(12, 32, person=0), synthetic_faces(12, 32, person=1))
BIG = tuple(synthetic_faces(12, 128, person=p) for p in (0, 1))  # the same cartoon faces at the detail stage's size
SETTINGS = dict(project="p", run="r", model="tiny", batch_size=4, log_every=2, preview_every=100_000,
                save_every=100_000, save_every_min=0.0, learning_rate=1e-3)
STAGES = {"autoencoder": dict(steps=100_000, detail_size=0),  # stopped in the autoencoder's fit
          "detail": dict(steps=4, detail_size=128, detail_steps=100_000)}  # in the detail stage's, the autoencoder done

# train() of a far STEPS (or DETAIL_STEPS), printing "STEP <model> n" every 2 steps, so the test knows it is training
TRAINER = textwrap.dedent("""
    import sys, keras
    from swaplab.train.testing import synthetic_faces
    from swaplab.train.loop import TrainConfig, train

    class Steps(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print("STEP", self.model.name, int(self.model.optimizer.iterations.numpy()), flush=True)

    cfg = TrainConfig(**{settings}, weights_dir=sys.argv[1])
    faces = [synthetic_faces(12, 128, person=p) for p in (0, 1)]
    train(cfg, callbacks=[Steps()], data=tuple(synthetic_faces(12, 32, person=p) for p in (0, 1)),
          detail_data=tuple(faces) if cfg.detail_size else None)
""")


def _start_training(weights, stage: str) -> subprocess.Popen:
    code = TRAINER.format(settings=repr({**SETTINGS, **STAGES[stage]}))
    return subprocess.Popen([sys.executable, "-c", code, str(weights)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _steps_seen(proc, model: str, at_least: int, timeout: float = 300) -> int:
    """Read the trainer's "STEP <model> n" lines until ``model``'s n >= at_least; returns n."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"the trainer ended (rc {proc.wait()}) before step {at_least}: {proc.stderr.read()[-3000:]}")
        if line.startswith(f"STEP {model} ") and int(line.split()[2]) >= at_least:
            return int(line.split()[2])
    pytest.fail(f"the trainer did not reach step {at_least} in {timeout} s")


@pytest.mark.parametrize("sig, stage", [(signal.SIGINT, "autoencoder"), (signal.SIGTERM, "autoencoder"),
                                        (signal.SIGTERM, "detail")], ids=["ctrl-c", "sigterm", "sigterm-in-detail-stage"])
def test_a_signal_saves_the_step_reached_says_so_in_one_line_and_the_next_train_resumes_there(tmp_path, sig, stage):
    weights, model = tmp_path / "weights", "swap_model" if stage == "autoencoder" else "detail"
    proc = _start_training(weights, stage)
    try:
        seen = _steps_seen(proc, model, 6)
        sent = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    run = weights / "p" / "r"
    key = "steps_done" if stage == "autoencoder" else "detail_steps_done"
    saved = runs.read_config(run)[key]
    last = max([seen] + [int(ln.split()[2]) for ln in out.splitlines() if ln.startswith(f"STEP {model} ")])
    assert proc.returncode == (-signal.SIGTERM if sig == signal.SIGTERM else 1) and took < 30, (proc.returncode, took, err[-3000:])
    assert last <= saved <= last + 2, (last, saved)  # the step it had reached (a line every 2 steps)
    how = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
    where = f"at step {saved} of 100000" if stage == "autoencoder" else f"at step 4 of 4 (detail stage step {saved} of 100000)"
    line = f"swaplab.train.stopping.Interrupted: interrupted by {how} {where}: saved {run}; run 03_train again with RUN='r' to continue from there"
    assert err.rstrip().splitlines()[-1] == line, err[-3000:]
    assert err.count('  File "') <= 2, err  # the caller's line and train's: no wall of traceback
    assert "During handling" not in err and "KeyboardInterrupt" not in err and "Terminated" not in err, err
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temporary file left

    seen_at = {}

    class First(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            name = "detail" if self.model.name.startswith("detail") else "swap_model"  # Keras numbers later models' names
            seen_at[name] = int(self.model.optimizer.iterations.numpy())

    settings = {**SETTINGS, **STAGES[stage], "weights_dir": str(weights)}
    settings["steps" if stage == "autoencoder" else "detail_steps"] = saved + 2
    report = train(TrainConfig(**settings), callbacks=[First()], data=DATA, detail_data=BIG if stage == "detail" else None)
    assert seen_at[model] == saved  # the first step of the next session is the one after the saved one
    done = report if stage == "autoencoder" else report["detail"]
    assert (done["steps_done"], done["steps_this_session"]) == (saved + 2, 2)
    assert runs.read_history(run, stage="" if stage == "autoencoder" else "detail")[-1]["step"] == saved + 2


def test_interrupted_renders_as_its_one_line_in_jupyter():
    stop = Interrupted("interrupted by Ctrl-C at step 4 of 10: saved w/p/r; run 03_train again", signal.SIGINT,
                       "at step 4 of 10: saved w/p/r")
    assert stop._render_traceback_() == [str(stop)]  # what IPython shows instead of a traceback
    assert not isinstance(stop, Exception)  # as KeyboardInterrupt: no ``except Exception`` trains on past it


def test_a_checkpoint_comes_by_the_clock_between_save_every_steps(tmp_path):
    cfg = TrainConfig(**{**SETTINGS, "save_every_min": 0.02}, steps=100_000, weights_dir=str(tmp_path))
    ckpt = cfg.run_dir / runs.CHECKPOINT
    seen = {}

    class Watch(keras.callbacks.Callback):
        """Ends the run at the first checkpoint the clock made (SAVE_EVERY is far away)."""

        def on_train_begin(self, logs=None):
            self.start = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            if ckpt.exists() and "step" not in seen:
                seen.update(step=runs.read_config(cfg.run_dir)["steps_done"], after_s=time.monotonic() - self.start)
                self.model.stop_training = True

    train(cfg, callbacks=[Watch()], data=DATA)
    assert seen, "no checkpoint while training"
    assert 1.2 <= seen["after_s"] and 0 < seen["step"] < cfg.save_every, seen  # by time (0.02 min), not by steps
    with pytest.raises(ValueError, match=r"SAVE_EVERY_MIN=-1: give the minutes between checkpoints"):
        TrainConfig(**{**SETTINGS, "save_every_min": -1}, weights_dir=str(tmp_path)).validate(faces=False)
