"""Training with two workers (MultiWorkerMirroredStrategy) as two real processes on 127.0.0.1:
both take part, only the chief writes the run, SIGTERM to the chief saves the step it reached
(one line, exit status 143) and stops the other, a restart of both resumes from exactly there,
and the losses match one worker's with the same global batch and seed. The "tiny" model, a few steps; about a minute on 2 idle cores (the timeouts
only catch hangs: under load from other processes it takes longer). A worker whose peer never starts
stops with one line within its peer timeout, and SIGTERM or Ctrl-C stop that wait at once (seconds)."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from swaplab.model import runs
from swaplab.train.distribute import PEER_TIMEOUT, peer_timeout, tf_config_workers
from swaplab.train.loop import TrainConfig, train
from swaplab.train.testing import synthetic_faces
from swaplab.train.worker import free_ports, read_config

FACES = 16  # synthetic faces per person, as ``--synthetic 16`` makes them
# A schedule that ignores STEPS (see below), and a small learning rate: two workers sum their gradients in
# another order than one, and Adam turns those last-bit differences of near-zero gradients into whole
# steps; at 1e-3 the two runs drift apart by 3 % within 8 steps, at 1e-4 they stay within 5e-4 over 16.
SETTINGS = dict(project="p", run="r", model="tiny", batch_size=8, log_every=2, save_every=2, preview_every=1000,
                learning_rate=1e-4, seed=3, lr_schedule="constant", warmup_steps=0, warp_end=1.0)


@pytest.fixture
def launch(tmp_path):
    """start(config_path, steps, session) -> two ``python -m swaplab.train.worker`` processes, one TF_CONFIG
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
            proc = subprocess.Popen([sys.executable, "-m", "swaplab.train.worker", str(config_path), "--steps",
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


def test_two_workers_resume_after_sigterm_and_match_one_worker(tmp_path, launch):
    scratch = tmp_path / "tmp"
    weights = tmp_path / "weights"
    config_path = tmp_path / "run.json"
    config_path.write_text(json.dumps({**SETTINGS, "weights_dir": str(weights)}))
    run_dir = read_config(config_path).run_dir

    # session 1: both workers train towards a far STEPS; after the chief's first checkpoint the chief gets SIGTERM
    # (as a scheduler sends it): it saves the step it reached, says so in one line and ends by SIGTERM, as a
    # headless 03_train does (TensorFlow's own SIGTERM handler, which would swallow it, is not left in place)
    procs = launch(config_path, 1000, session=1)
    first = wait_for_checkpoint(run_dir, procs)
    procs[0].terminate()
    rc, out = finish(procs[0], 60)
    resume_at = runs.read_config(run_dir)["steps_done"]
    assert rc == -signal.SIGTERM and resume_at >= first, (rc, resume_at, out[-3000:])  # 143 in a shell
    assert out.rstrip().splitlines()[-1] == (f"swaplab.train.worker: stopped by SIGTERM at step {resume_at} of 1000: "
                                             f"saved {run_dir}; start every worker again with the same command to "
                                             "continue from there"), out[-3000:]
    rc, out = finish(procs[1], 300)  # the survivor sees the lost peer and stops with a one-line message
    assert rc == 3 and "start all of them again" in out, out[-3000:]
    assert not list(scratch.glob("swaplab-worker*"))  # its temporary folder went as it stopped

    # session 2: both restarted with the same command, 4 steps more
    procs = launch(config_path, resume_at + 4, session=2)
    results = [finish(p, 900) for p in procs]
    for rc, out in results:
        assert rc == 0, out[-3000:]
        chatter = [ln for ln in out.splitlines() if "cuInit" in ln or re.match(r"[IW]\d{4} \d\d:\d\d:", ln)]
        assert not chatter, chatter  # as quiet as the notebooks: no C++ info/warning lines, no cuInit error
    chief, other = (report_of(out) for _, out in results)
    assert (chief["chief"], other["chief"], chief["worker"], other["worker"]) == (True, False, 0, 1)
    for r in (chief, other):  # both took part: two replicas, the same resumed step and the same weights
        assert (r["workers"], r["replicas"], r["resumed_from_step"], r["steps_done"]) == (2, 2, resume_at, resume_at + 4)
    assert chief["weights_sum"] == pytest.approx(other["weights_sum"], rel=1e-6)
    assert not list(scratch.glob("swaplab-worker*"))
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
    # every LOG_EVERY=2 steps, and where a session ends; the stopped session has no record of its last step
    assert set(one) == set(range(2, resume_at + 1, 2)) | {resume_at, resume_at + 2, resume_at + 4}
    assert set(range(2, resume_at, 2)) | {resume_at + 2, resume_at + 4} <= set(two) <= set(one)
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



def _lone_worker(tmp_path, index, *args, env=None, hosts=None):
    """A worker of a two-worker TF_CONFIG (on ``hosts``, default two free ports) whose other worker never starts;
    (the process, the other worker's address)."""
    hosts = hosts or [f"127.0.0.1:{p}" for p in free_ports(2)]
    config_path = tmp_path / "run.json"
    config_path.write_text(json.dumps({**SETTINGS, "weights_dir": str(tmp_path / "weights")}))
    spec = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
    env = {**os.environ, "TF_CONFIG": json.dumps(spec), **(env or {})}
    out, err = open(tmp_path / "out.log", "w+"), open(tmp_path / "err.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "swaplab.train.worker", str(config_path), "--steps", "2",
                             "--synthetic", str(FACES), *args], env=env, stdout=out, stderr=err, text=True)
    proc.out, proc.err = out, err
    return proc, hosts[1 - index]


def _read(f) -> str:
    f.seek(0)
    return f.read()


@pytest.mark.parametrize("index, args, env, bound", [(0, ["--peer-timeout", "3"], None, 3),
                                                      (1, [], {"SWAPLAB_PEER_TIMEOUT": "2"}, 2)],
                         ids=["chief-waits-for-worker-1", "worker-1-waits-for-the-chief"])
def test_a_worker_that_never_starts_is_named_within_the_peer_timeout(tmp_path, index, args, env, bound):
    began = time.monotonic()
    proc, other = _lone_worker(tmp_path, index, *args, env=env)
    try:
        proc.wait(timeout=bound + 30)  # the bound, plus a margin for starting Python on a loaded machine
    finally:
        proc.kill()
    took = time.monotonic() - began
    missing = f"worker {1 - index} at {other}"
    assert proc.returncode == 4, _read(proc.err)
    assert _read(proc.out) == f"waiting up to {bound} s for {missing} (TF_CONFIG) to start\n"
    assert _read(proc.err) == (f"swaplab.train.worker: {missing} did not join within {bound} s: start it with the same "
                               f"TF_CONFIG (task index {1 - index}), or remove it from the cluster\n")
    assert bound <= took < bound + 30


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sigterm_or_ctrl_c_stops_the_wait_for_peers_at_once(tmp_path, sig):
    proc, other = _lone_worker(tmp_path, 0)  # the default peer timeout: 120 s
    try:
        deadline = time.monotonic() + 60
        while "waiting up to 120 s" not in _read(proc.out):  # in the wait
            assert proc.poll() is None and time.monotonic() < deadline, _read(proc.err)
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == (-sig if sig == signal.SIGTERM else 128 + sig) and took < 5, (proc.returncode, took, _read(proc.err))
    name = "SIGTERM" if sig == signal.SIGTERM else "Ctrl-C (SIGINT)"
    assert _read(proc.err) == f"swaplab.train.worker: stopped by {name} while waiting for worker 1 at {other} to join\n"


def test_a_port_that_answers_but_is_no_worker_ends_in_one_line_too(tmp_path):
    import socket

    hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
    impostor = socket.create_server(("127.0.0.1", int(hosts[1].rsplit(":", 1)[1])))  # another program on the port
    try:
        proc, _ = _lone_worker(tmp_path, 0, "--peer-timeout", "4", hosts=hosts)
        try:
            proc.wait(timeout=120)  # TensorFlow loads (seconds), then waits in C++ for a worker that is not there
        finally:
            proc.kill()
    finally:
        impostor.close()
    assert proc.returncode == -signal.SIGKILL, _read(proc.err)[-2000:]  # what TensorFlow's wait cannot swallow
    assert _read(proc.out) == ""  # the port answered: no waiting line
    assert _read(proc.err) == ("swaplab.train.worker: the workers TF_CONFIG names answered, but TensorFlow did not "
                               "connect them within 4 s (one may have stopped meanwhile): stop every worker and start "
                               "all of them again with the same command\n")


def test_a_port_already_taken_is_one_line(tmp_path):
    import socket

    hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
    taken = socket.create_server(("", int(hosts[0].rsplit(":", 1)[1])))  # this worker's own port, held by another
    try:
        proc, _ = _lone_worker(tmp_path, 0, hosts=hosts)
        try:
            proc.wait(timeout=30)
        finally:
            proc.kill()
    finally:
        taken.close()
    assert proc.returncode == 2 and _read(proc.out) == ""
    err = _read(proc.err)
    assert err.startswith(f"swaplab.train.worker: worker 0 at {hosts[0]} (this task): port {hosts[0].rsplit(':', 1)[1]} is in use")
    assert err.endswith("or give this task another port in TF_CONFIG\n") and err.count("\n") == 1, err


def test_peer_timeout_is_checked(monkeypatch):
    monkeypatch.delenv("SWAPLAB_PEER_TIMEOUT", raising=False)
    assert peer_timeout() == PEER_TIMEOUT and peer_timeout(5) == 5.0
    monkeypatch.setenv("SWAPLAB_PEER_TIMEOUT", "7.5")
    assert peer_timeout() == 7.5 and peer_timeout(2) == 2.0  # the flag wins over the variable
    for bad in ("soon", "0", "-1", "inf"):
        monkeypatch.setenv("SWAPLAB_PEER_TIMEOUT", bad)
        with pytest.raises(ValueError, match=r"SWAPLAB_PEER_TIMEOUT=.* is not a number of seconds above 0"):
            peer_timeout()
