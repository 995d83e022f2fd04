"""Training with two workers (MultiWorkerMirroredStrategy) as two real processes on 127.0.0.1:
both take part, only the chief writes the run, a killed worker stops the other and a restart
of both resumes from the chief's last checkpoint, and the losses match one worker's with the
same global batch and seed. The "tiny" model, a few steps; about a minute on 2 idle cores (the timeouts
only catch hangs: under load from other processes it takes longer)."""

import json
import os
import subprocess
import sys
import time

import pytest

from swaplab import runs
from swaplab.distribute import tf_config_workers
from swaplab.testing import synthetic_faces
from swaplab.train import TrainConfig, train
from swaplab.train_worker import free_ports, read_config

FACES = 16  # synthetic faces per person, as ``--synthetic 16`` makes them
# A schedule that ignores STEPS (see below), and a small learning rate: two workers sum their gradients in
# another order than one, and Adam turns those last-bit differences of near-zero gradients into whole
# steps; at 1e-3 the two runs drift apart by 3 % within 8 steps, at 1e-4 they stay within 5e-4 over 16.
SETTINGS = dict(project="p", run="r", model="tiny", batch_size=8, log_every=2, save_every=2, preview_every=1000,
                learning_rate=1e-4, seed=3, lr_schedule="constant", warmup_steps=0, warp_end=1.0)


@pytest.fixture
def launch(tmp_path):
    """start(config_path, steps, session) -> two ``python -m swaplab.train_worker`` processes, one TF_CONFIG
    task each, output to files, temp folders under tmp_path/tmp; any still running at the end are killed."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    procs = []

    def start(config_path, steps, session):
        hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
        pair = []
        for i in range(2):
            env = {**os.environ, "TMPDIR": str(scratch), "TF_CPP_MIN_LOG_LEVEL": "2",
                   "TF_CONFIG": json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})}
            log = open(tmp_path / f"session{session}_worker{i}.log", "w+")
            proc = subprocess.Popen([sys.executable, "-m", "swaplab.train_worker", str(config_path), "--steps",
                                     str(steps), "--synthetic", str(FACES)], env=env, stdout=log, stderr=log, text=True)
            proc.log = log
            pair.append(proc)
        procs.extend(pair)
        return pair

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.log.close()


def finish(proc, timeout):
    """(exit status, output) of a worker, failing the test if it runs past ``timeout`` seconds."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"a worker ran past {timeout} s:\n{output(proc)[-3000:]}")
    return proc.returncode, output(proc)


def output(proc):
    proc.log.seek(0)
    return proc.log.read()


def report_of(out):
    return json.loads([ln for ln in out.splitlines() if ln.startswith("WORKER_REPORT ")][-1].split(" ", 1)[1])


def wait_for_checkpoint(run_dir, procs, timeout=900):
    """Steps in the chief's first checkpoint, once one exists."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if (run_dir / "checkpoint.weights.h5").exists() and runs.read_config(run_dir)["steps_done"] > 0:
            return runs.read_config(run_dir)["steps_done"]
        for p in procs:
            if p.poll() is not None:
                pytest.fail(f"a worker ended before the first checkpoint:\n{output(p)[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"no checkpoint in {run_dir} after {timeout} s")


def test_two_workers_resume_after_a_kill_and_match_one_worker(tmp_path, launch):
    scratch = tmp_path / "tmp"
    weights = tmp_path / "weights"
    config_path = tmp_path / "run.json"
    config_path.write_text(json.dumps({**SETTINGS, "weights_dir": str(weights)}))
    run_dir = read_config(config_path).run_dir

    # session 1: both workers train towards a far STEPS; one is SIGKILLed after the chief's first checkpoint
    procs = launch(config_path, 1000, session=1)
    wait_for_checkpoint(run_dir, procs)
    procs[1].kill()
    rc, out = finish(procs[0], 300)  # the survivor sees the lost peer and stops with a one-line message
    assert rc == 3 and "start all of them again" in out, out[-3000:]
    resume_at = runs.read_config(run_dir)["steps_done"]
    assert resume_at >= 2 and resume_at % 2 == 0
    left = set(scratch.glob("swaplab-worker*"))  # a killed worker's temporary folder stays; a finished one's goes

    # session 2: both restarted with the same command, 4 steps more
    procs = launch(config_path, resume_at + 4, session=2)
    results = [finish(p, 900) for p in procs]
    for rc, out in results:
        assert rc == 0, out[-3000:]
    chief, other = (report_of(out) for _, out in results)
    assert (chief["chief"], other["chief"], chief["worker"], other["worker"]) == (True, False, 0, 1)
    for r in (chief, other):  # both took part: two replicas, the same resumed step and the same weights
        assert (r["workers"], r["replicas"], r["resumed_from_step"], r["steps_done"]) == (2, 2, resume_at, resume_at + 4)
    assert chief["weights_sum"] == pytest.approx(other["weights_sum"], rel=1e-6)
    assert set(scratch.glob("swaplab-worker*")) == left and len(left) == 1
    assert runs.read_config(run_dir)["steps_done"] == resume_at + 4
    model = runs.load(run_dir)  # the chief's checkpoint loads
    assert model.swap(synthetic_faces(2, 32, 0)[0]).shape == (2, 32, 32, 3)

    # one worker, the same global batch, seed and session split (a resumed run reshuffles from its step)
    data = tuple(synthetic_faces(FACES, 32, person=p, seed=3) for p in (0, 1))
    ref = TrainConfig(**{**SETTINGS, "weights_dir": str(tmp_path / "one"), "steps": resume_at})
    train(ref, data=data)
    ref.steps = resume_at + 4
    train(ref, data=data)
    two = {h["step"]: h for h in json.loads((run_dir / "history.json").read_text())}
    one = {h["step"]: h for h in json.loads((ref.run_dir / "history.json").read_text())}
    # a kill can cost the history its record of the checkpoint's step (it is appended just after the save)
    assert {resume_at + 2, resume_at + 4} <= set(two) <= set(one) == set(range(2, resume_at + 5, 2))
    for step, h in two.items():
        assert (h["loss_a"], h["loss_b"]) == pytest.approx((one[step]["loss_a"], one[step]["loss_b"]), rel=2e-3), (two, one)


def test_tf_config_is_read_and_bad_ones_refused(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert tf_config_workers() == 1
    spec = {"cluster": {"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(spec))
    assert tf_config_workers() == 3
    for bad in ("{not json", json.dumps({"cluster": {"worker": ["h1:1"]}, "task": {"type": "worker", "index": 4}}),
                json.dumps({"task": {"type": "worker", "index": 0}})):
        monkeypatch.setenv("TF_CONFIG", bad)
        with pytest.raises(ValueError, match=r"TF_CONFIG=.*is not a cluster spec.*unset it"):
            tf_config_workers()


def test_launcher_refuses_bad_config_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="CONFIG .*missing.json does not exist"):
        read_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**SETTINGS, "batchsize": 4}))
    with pytest.raises(ValueError, match=r"keys TrainConfig does not know: \['batchsize'\]"):
        read_config(bad)
    bad.write_text("{")
    with pytest.raises(ValueError, match="not readable JSON"):
        read_config(bad)
    run_json = {**SETTINGS, "image_size": 32, "steps_done": 6, "augment": {"warp_scale": 0.03}}  # a run's config.json
    bad.write_text(json.dumps(run_json))
    config = read_config(bad, steps=12)
    assert (config.steps, config.augment.warp_scale, config.batch_size) == (12, 0.03, 8)

