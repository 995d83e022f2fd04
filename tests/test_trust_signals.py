"""Signals as a careful Unix program handles them (issue 27), with real processes: SIGTERM saves, then the process ends
by SIGTERM (143 in a shell), a script of 03_train's and ``python -m swaplab.train.worker`` alike; a second Ctrl-C during
the save waits for it and says so; a third aborts it with a warning, and the run keeps its last whole save."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from swaplab.model import runs

# a far STEPS, a save every 4 steps; each save's export waits 3 s (a slow disk), so a signal can land inside a save
TRAINER = textwrap.dedent("""
    import sys, time, keras
    from swaplab.model import runs
    from swaplab.train.testing import synthetic_faces
    from swaplab.train.loop import TrainConfig, train

    slow, export = float(sys.argv[2]), runs.export
    def slow_export(*a, **k):
        print("SAVING", flush=True)
        time.sleep(slow)
        return export(*a, **k)
    runs.export = slow_export

    class Steps(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print("STEP", int(self.model.optimizer.iterations.numpy()), flush=True)

    cfg = TrainConfig(project="p", run="r", model="tiny", batch_size=4, steps=100000, log_every=2, save_every=4,
                      preview_every=100000, save_every_min=0.0, learning_rate=1e-3, detail_size=0, weights_dir=sys.argv[1])
    train(cfg, callbacks=[Steps()], data=tuple(synthetic_faces(12, 32, person=p) for p in (0, 1)))
""")


def _start(weights, slow: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TRAINER, str(weights), str(slow)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(proc, word: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"the trainer ended (rc {proc.wait()}): {proc.stderr.read()[-3000:]}")
        if line.startswith(word):
            return
    pytest.fail(f"no {word} in {timeout} s")


def _whole(run) -> int:
    """The run's saved step, after checking its save is whole: no journal or pending file, a loadable checkpoint."""
    assert not (run / runs.JOURNAL).exists() and not list(run.glob(runs.PENDING + "*")), sorted(p.name for p in run.iterdir())
    step = runs.read_config(run)["steps_done"]
    assert runs.export_step(run / runs.EXPORT) == step and runs.load(run) is not None
    return step


def test_sigterm_saves_then_the_process_ends_by_sigterm(tmp_path):
    proc = _start(tmp_path, 0.0)
    try:
        _wait_for(proc, "STEP 6")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGTERM, (proc.returncode, err[-3000:])  # a shell sees 143
    step = _whole(tmp_path / "p" / "r")
    assert step >= 6
    assert err.rstrip().splitlines()[-1].startswith(f"swaplab.train.stopping.Interrupted: interrupted by SIGTERM at step {step}")


def test_a_second_ctrl_c_during_the_save_waits_for_it_and_a_third_aborts_it(tmp_path):
    proc = _start(tmp_path / "two", 3.0)
    try:
        _wait_for(proc, "STEP 6")  # past the first save (step 4): the next save is the interrupted stage's
        proc.send_signal(signal.SIGINT)
        _wait_for(proc, "SAVING")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert "saving the step reached first, a moment" in err and proc.returncode == 1, err[-3000:]
    assert _whole(tmp_path / "two" / "p" / "r") >= 6  # the second Ctrl-C did not cut it

    proc = _start(tmp_path / "three", 3.0)
    try:
        _wait_for(proc, "STEP 6")
        proc.send_signal(signal.SIGINT)
        _wait_for(proc, "SAVING")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert "the save was aborted and is unfinished: the run keeps its last whole save" in err, err[-3000:]
    run = tmp_path / "three" / "p" / "r"
    assert runs.read_config(run)["steps_done"] == 4 and runs.load(run) is not None  # the last whole save
    runs.finish(run)  # what the next save does first: the cut save's pending files go
    assert _whole(run) == 4


def test_the_worker_saves_then_ends_by_sigterm_too_its_line_out_through_the_stderr_filter(tmp_path):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"project": "p", "run": "r", "model": "tiny", "batch_size": 4, "log_every": 2,
                                  "save_every": 4, "preview_every": 100000, "save_every_min": 0.0, "detail_size": 0,
                                  "weights_dir": str(tmp_path)}))
    run = tmp_path / "p" / "r"
    proc = subprocess.Popen([sys.executable, "-m", "swaplab.train.worker", str(config), "--steps", "100000",
                             "--synthetic", "12"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not ((run / runs.CHECKPOINT).exists() and runs.read_config(run).get("steps_done", 0) >= 4):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGTERM, (proc.returncode, err[-3000:])  # not sys.exit(143): a death by SIGTERM
    step = _whole(run)
    assert err.rstrip().splitlines()[-1].startswith(f"swaplab.train.worker: stopped by SIGTERM at step {step} of 100000: "
                                                    f"saved {run}; start every worker again"), err[-3000:]
