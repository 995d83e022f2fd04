"""Fault injection (issue 12): the faults a new user hits lose nothing that existed, and each is explained in one line.

Real components throughout: MediaPipe and dlib align a real GRID clip, ffmpeg reads and writes real
files, Keras trains the tiny model, and the kills are SIGKILLs of real subprocesses. A full disk is
simulated in a subprocess with RLIMIT_FSIZE: every write past the limit fails (EFBIG) the way writes
fail on a full disk (ENOSPC).
"""

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from swaplab.align import build
from swaplab.collect import sources as collect
from swaplab.core import assets, paths, video
from swaplab.face import faceset
from swaplab.model import runs

CLIP = "samples/grid/s1/bbaf2n.mpg"  # 3 s, 75 frames at 25 fps, one face
SMALL = dict(face_size=64, sample_fps=5, workers=1, progress=False)  # 15 frames of the clip, about 15 faces


def _snapshot(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _python(code: str, fsize: int | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; ``fsize``: no file it writes may grow past this many bytes."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit if fsize else None)


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (rc {proc.returncode}) before it could be killed: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail("the process never got far enough to be killed")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    """A data dir where person "a" (one GRID clip) is aligned at 64 px, 5 fps; tests work on copies."""
    data = tmp_path_factory.mktemp("aligned") / "data"
    src = paths.sources_dir(data, "t", "a")
    src.mkdir(parents=True)
    shutil.copy(assets.fetch(CLIP, data_dir=data), src)
    build.align_person(data, "t", "a", **SMALL)
    return data


@pytest.fixture
def data(aligned, tmp_path):
    shutil.copytree(aligned, tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """weights/t/r1: the tiny model trained for 2 steps on synthetic faces (enough to load, resume and swap)."""
    from swaplab.train import loop as train

    weights = tmp_path_factory.mktemp("weights")
    train.train(_train_config(weights, "r1", steps=2), data=_faces())
    return weights / "t" / "r1"


def _faces():
    from swaplab.train.testing import synthetic_faces

    return synthetic_faces(8, 32, person=0), synthetic_faces(8, 32, person=1)


def _train_config(weights, run, **kw):
    from swaplab.train.loop import TrainConfig

    base = dict(project="t", run=run, model="tiny", batch_size=4, steps=2, log_every=1, preview_every=1000,
                save_every=1000, weights_dir=str(weights))
    return TrainConfig(**{**base, **kw})


# ---------------------------------------------------------------- 1, 2: re-aligning with new settings


REALIGN = """
    import sys
    from swaplab.align import build
    from swaplab.face import faceset
    try:
        build.align_person({data!r}, "t", "a", face_size=128, sample_fps={fps}, workers=1, progress=False)
    except faceset.FaceSetError as e:
        print("ERROR", e)
        sys.exit(3)
"""


def test_full_disk_during_a_realign_keeps_the_old_face_set(data):
    faces = paths.faces_dir(data, "t", "a")
    before = _snapshot(faces)
    proc = _python(REALIGN.format(data=str(data), fps=5), fsize=40_000)  # crops fit, the index does not
    assert proc.returncode == 3, proc.stdout[-1000:] + proc.stderr[-3000:]
    msg = proc.stdout.split("ERROR ", 1)[1].strip()
    assert "\n" not in msg and "File too large" in msg, msg
    assert "person a" in msg and f"{faces} is kept as it was" in msg and "free disk space" in msg, msg
    assert _snapshot(faces) == before  # not one byte of the old face set changed
    assert not faces.with_name("faces.new").exists()  # and no half-built one is left
    assert faceset.FaceSet(faces).face_size == 64


def test_kill_9_during_a_realign_keeps_the_old_face_set(data, capsys):
    faces = paths.faces_dir(data, "t", "a")
    new = faces.with_name("faces.new")
    before = _snapshot(faces)
    rows = faceset.FaceSet(faces).rows
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(REALIGN.format(data=str(data), fps=0))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(list((new / "crops").glob("*.jpg"))) >= 3, proc)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert new.is_dir() and _snapshot(faces) == before  # killed mid-build: the old set is untouched
    capsys.readouterr()
    again = build.align_person(data, "t", "a", **SMALL)  # the old settings: nothing to read again
    assert not new.exists()  # the partial build is gone, and the run says so
    assert capsys.readouterr().out == f"{new} was left by a stopped run (a face set it had not finished): removed it\n"
    assert again.rows == rows and again.face_size == 64
    assert {k: v for k, v in _snapshot(faces).items() if k.startswith("crops/")} == \
        {k: v for k, v in before.items() if k.startswith("crops/")}


def test_changed_sample_fps_or_max_faces_reads_the_sources_again(data, capsys):
    faces = paths.faces_dir(data, "t", "a")
    assert faceset.FaceSet(faces).summary["frames_read"] == 15  # every 5th frame
    fs = build.align_person(data, "t", "a", **{**SMALL, "sample_fps": 2.5})  # headless (progress=False), and says so:
    assert capsys.readouterr().out == (f"SAMPLE_FPS 5 -> 2.5: reading every source of a again into {faces}.new; "
                                       f"{faces} stays as it is until that is done\n")
    assert fs.summary["frames_read"] == 8 and fs.summary["settings"]["sample_fps"] == 2.5  # every 10th: read again
    assert fs.rows and all(r["frame"] % 10 == 0 for r in fs.rows)
    assert not faces.with_name("faces.new").exists() and not faces.with_name("faces.old").exists()
    settings = dict(face_size=64, sample_fps=2.5)
    assert build.read_changes(fs.summary, build.AlignConfig(**settings, max_faces=2)) == ["MAX_FACES 1 -> 2"]
    assert build.read_changes(fs.summary, build.AlignConfig(**{**settings, "face_size": 128})) == ["FACE_SIZE 64 -> 128"]
    assert build.read_changes(fs.summary, build.AlignConfig(**settings, dedupe=0, blur_min=10)) == []  # filters only


# ---------------------------------------------------------------- 3: a damaged checkpoint


def test_damaged_checkpoint_is_one_line_naming_it(tiny_run, tmp_path, capsys):
    from swaplab.train import loop as train

    weights = tmp_path / "weights"
    run = weights / "t" / "r1"
    shutil.copytree(tiny_run, run)
    ckpt, export = run / runs.CHECKPOINT, run / runs.EXPORT
    good, good_export = ckpt.read_bytes(), export.read_bytes()
    for damaged in (b"not an HDF5 file " * 50, good[: len(good) // 2]):  # garbage, and a copy cut short
        ckpt.write_bytes(damaged)
        with pytest.raises(OSError) as err:
            train.train(_train_config(weights, "r1", steps=4), data=_faces())  # resuming it (no previous one to fall back to)
        msg = str(err.value)
        assert str(ckpt) in msg and "restore it from a copy, or delete it" in msg and "\n" not in msg, msg
        assert runs.load(run, project="t").image_size == 32  # what 04_swap reads is the export: unharmed
        export.write_bytes(damaged)
        capsys.readouterr()
        with pytest.raises(OSError, match="is damaged or not a checkpoint"):
            runs.load(run, project="t")  # the export, then the checkpoint it falls back to
        assert capsys.readouterr().out.startswith(f"{export} is damaged (")
        export.write_bytes(good_export)
    ckpt.unlink()  # the advice: delete it; the run is then not new (its export and history stay): it says how to go on
    with pytest.raises(ValueError, match=r"holds a run's .* but not the checkpoint .* INIT_FROM='r1'") as err:
        train.train(_train_config(weights, "r1", steps=2), data=_faces())
    assert "\n" not in str(err.value) and export.read_bytes() == good_export  # nothing written
    (run / "config.json").write_text('{"model": "tiny", ')
    with pytest.raises(ValueError, match=r"config.json is damaged \(.*\): restore it from a copy"):
        runs.load(run)


# ---------------------------------------------------------------- 4: a bad line in faces/index.jsonl


@pytest.mark.parametrize("damage", [lambda line: line[: len(line) // 2], lambda line: "\x00garbage\x00"],
                         ids=["cut-line", "garbage-line"])
def test_bad_index_line_is_named_and_02_align_repairs_it(data, damage, capsys):
    faces = paths.faces_dir(data, "t", "a")
    index = faces / "index.jsonl"
    lines = index.read_text().splitlines()
    before = [json.loads(line) for line in lines]
    lines[3] = damage(lines[3])
    index.write_text("\n".join(lines) + "\n")
    for read in (lambda: faceset.FaceSet(faces), lambda: faceset.load_training_arrays(faces, 32)):  # 02, 03_train
        with pytest.raises(faceset.FaceSetError) as err:
            read()
        msg = str(err.value)
        assert f"{index} line 4 is not a valid face record" in msg and "run 02_align for person a to repair" in msg, msg
        assert "\n" not in msg
    crop = faces / before[0]["file"]
    mtime = crop.stat().st_mtime_ns
    capsys.readouterr()
    fs = build.align_person(data, "t", "a", **SMALL)  # repairs: drops the line, reads its source again
    assert crop.stat().st_mtime_ns != mtime  # that source was read again
    assert capsys.readouterr().out == f"{index} line 4 was damaged: dropped it and reading source bbaf2n again\n"
    assert [(r["frame"], r["kept"]) for r in fs.rows] == [(r["frame"], r["kept"]) for r in before]
    assert len(faceset.FaceSet(faces).rows) == len(before)  # the index reads cleanly again
    build.align_person(data, "t", "a", **SMALL)
    assert capsys.readouterr().out == ""  # nothing repaired, nothing read again: nothing said


def test_damaged_summary_reads_every_source_again_and_says_so(data, capsys):
    faces = paths.faces_dir(data, "t", "a")
    rows = faceset.FaceSet(faces).rows
    (faces / "summary.json").write_text('{"face_size": 64, "sources": ')  # cut short
    fs = build.align_person(data, "t", "a", **SMALL)
    out = capsys.readouterr().out
    assert out.startswith(f"{faces / 'summary.json'} was damaged (") and out.count("\n") == 1, out
    assert out.endswith(f": reading every source of a again into {faces}.new; {faces} stays as it is until that is done\n")
    assert [(r["frame"], r["kept"]) for r in fs.rows] == [(r["frame"], r["kept"]) for r in rows]


def test_a_swap_in_cut_between_its_renames_is_finished_and_said(data, capsys):
    faces = paths.faces_dir(data, "t", "a")
    rows = faceset.FaceSet(faces).rows
    shutil.copytree(faces, faces.with_name("faces.new"))  # a complete rebuild ...
    faces.rename(faces.with_name("faces.old"))  # ... killed after the first of _swap_in's two renames
    fs = build.align_person(data, "t", "a", **SMALL)
    assert capsys.readouterr().out.splitlines() == [
        f"{faces} was missing (a run was stopped while putting a new face set in place): finished it (faces.new -> faces)",
        f"{faces}.old was left by a stopped run (the face set it replaced): removed it"]
    assert fs.rows == rows and not faces.with_name("faces.old").exists() and not faces.with_name("faces.new").exists()


def test_a_source_that_failed_is_read_again_and_said(data, capsys):
    (paths.sources_dir(data, "t", "a") / "notes.mp4").write_text("a text file, not a video")
    fs = build.align_person(data, "t", "a", **SMALL)
    assert "notes" in fs.summary["errors"] and capsys.readouterr().out == ""  # new: read for the first time
    build.align_person(data, "t", "a", **SMALL)
    out = capsys.readouterr().out
    assert out.startswith("source notes of a could not be read last time (") and out.endswith("): reading it again\n"), out
    assert out.count("\n") == 1


# ---------------------------------------------------------------- 5: a killed 04_swap


SWAP = """
    import time
    from swaplab.swap import pipeline as swap

    def tick(done, total):
        time.sleep(0.05)  # slow enough to be killed mid-run

    swap.convert({clip!r}, {run!r}, {out!r}, swap.SwapOptions(batch_size=2), progress=tick)
"""


def test_kill_9_during_04_swap_keeps_the_old_output_and_the_next_run_cleans_up(tiny_run, tmp_path):
    from swaplab.swap import pipeline as swap

    clip = assets.fetch(CLIP, data_dir=tmp_path)
    out = tmp_path / "output" / "bbaf2n_a2b.mp4"
    short = swap.SwapOptions(duration=0.4, batch_size=2)
    swap.convert(clip, tiny_run, out, short, progress=False)
    before = out.read_bytes()
    # the conversion, its ffmpeg decoder and encoder all killed at once, as when the machine goes down
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SWAP.format(clip=str(clip), run=str(tiny_run), out=str(out)))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def temps():
        return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.part{proc.pid}.")]

    try:
        _wait_for(lambda: any(p.stat().st_size > 0 for p in temps()), proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert temps() and out.read_bytes() == before  # the killed run's hidden temp file stays; the output is untouched
    swap.convert(clip, tiny_run, out, short, progress=False)  # the next run
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # removed the temp file
    assert video.stream_durations(out)["video"] == pytest.approx(0.4)  # 10 frames at 25 fps


def _group_alive(pgid: int) -> list[str]:
    """The processes of process group ``pgid`` still running (zombies aside), as "pid name"."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" ", 1)
        except OSError:  # it ended meanwhile
            continue
        name, fields = rest.rsplit(")", 1)
        state, _ppid, group = fields.split()[:3]
        if int(group) == pgid and state != "Z":
            alive.append(f"{pid} {name.lstrip('(')}")
    return alive


def _start_swap(clip, run, out) -> subprocess.Popen:
    """04_swap's conversion of ``clip`` in its own process group (as a terminal's job is), slowed to be caught mid-run."""
    code = textwrap.dedent(SWAP.format(clip=str(clip), run=str(run), out=str(out)))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    _wait_for(lambda: any(p.stat().st_size > 0 for p in out.parent.glob(f".{out.name}.part{proc.pid}.*")), proc)
    return proc


@pytest.mark.parametrize("how", ["kill-pid", "ctrl-c"])
def test_sigterm_or_ctrl_c_during_04_swap_leaves_no_partial_file_and_no_ffmpeg(tiny_run, tmp_path, how):
    clip = assets.fetch(CLIP, data_dir=tmp_path)
    out = tmp_path / "output" / "bbaf2n_a2b.mp4"
    proc = _start_swap(clip, tiny_run, out)
    assert len(_group_alive(proc.pid)) == 3, _group_alive(proc.pid)  # Python, the ffmpeg decoder and encoder
    if how == "kill-pid":
        os.kill(proc.pid, signal.SIGTERM)  # `kill PID`: the signal reaches Python only, not its ffmpeg children
    else:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground job
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    expected = -signal.SIGTERM if how == "kill-pid" else -signal.SIGINT  # it still ends by the signal it was sent
    assert proc.returncode == expected, proc.stderr.read()[-2000:]
    assert list(out.parent.iterdir()) == []  # the partial file went before the process ended
    deadline = time.monotonic() + 5
    while _group_alive(proc.pid) and time.monotonic() < deadline:  # a killed child may take a moment to go
        time.sleep(0.05)
    assert _group_alive(proc.pid) == []  # and no ffmpeg was left running


def test_the_next_04_swap_into_the_folder_sweeps_what_a_kill_9_left_and_says_so(tiny_run, tmp_path, capsys):
    from swaplab.swap import pipeline as swap

    clip = assets.fetch(CLIP, data_dir=tmp_path)
    out = tmp_path / "output" / "bbaf2n_a2b.mp4"
    proc = _start_swap(clip, tiny_run, out)
    os.killpg(proc.pid, signal.SIGKILL)  # cannot be caught: the temporary file stays
    proc.wait()
    (left,) = list(out.parent.iterdir())
    live = out.parent / f".other.mp4.part{os.getpid()}.abcd1234.mp4"  # a conversion still running (this process)
    live.write_bytes(b"\0" * 100)
    other = out.with_name("pwij3p_a2b.mp4")  # the next conversion into the folder, of another input
    swap.convert(clip, tiny_run, other, swap.SwapOptions(duration=0.2, batch_size=2), progress=False)
    assert capsys.readouterr().out == f"removed 1 partial file that stopped runs left in {out.parent}: {left.name}\n"
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([live.name, other.name])
    swap.convert(clip, tiny_run, other, swap.SwapOptions(duration=0.2, batch_size=2), progress=False)
    assert capsys.readouterr().out == ""  # nothing left to remove: nothing said


def test_stale_temp_files_go_but_a_live_writers_stay(tmp_path):
    out = tmp_path / "clip.mp4"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    stale = tmp_path / f".clip.mp4.part{dead}.abcd1234.mp4"
    live = tmp_path / f".clip.mp4.part{os.getppid()}.abcd1234.mp4"  # a process that is running
    other = tmp_path / f".clip2.mp4.part{dead}.abcd1234.mp4"  # another output's
    for p in (stale, live, other):
        p.write_bytes(b"\0" * 1000)
    with video.VideoWriter(out, 25) as w:
        w.write(np.zeros((32, 32, 3), np.uint8))
    assert not stale.exists() and live.exists() and other.exists() and out.exists()


# ---------------------------------------------------------------- 6: a stage that found nothing


def test_no_readable_source_is_one_clear_error_and_writes_nothing(tmp_path):
    src = paths.sources_dir(tmp_path, "t", "x")
    src.mkdir(parents=True)
    (src / "notes.mp4").write_text("a text file, not a video")
    (src / "empty.mpg").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(faceset.FaceSetError) as err:
            build.align_person(tmp_path, "t", "x", workers=1, progress=False)
    msg = str(err.value)
    assert "could read none of the 2 sources of person x" in msg and "notes" in msg and "empty" in msg, msg
    assert "01_collect" in msg and "\n" not in msg
    assert not [w for w in caught if issubclass(w.category, (RuntimeWarning, UserWarning))], [str(w.message) for w in caught]
    faces = paths.faces_dir(tmp_path, "t", "x")
    assert not faces.exists() and not faces.with_name("faces.new").exists()
    with pytest.raises(FileNotFoundError, match="run 02_align for person x first"):  # what 03_train then says
        faceset.load_training_arrays(faces, 32)


# ---------------------------------------------------------------- 7, 8: 04_swap's input, 03_train's STEPS and INIT_FROM


def test_04_swap_names_the_real_cause_of_a_bad_input_before_loading_the_model(tmp_path):
    from swaplab.swap import pipeline as swap

    png = tmp_path / "photo.mp4"  # a PNG renamed .mp4
    png.write_bytes(cv2.imencode(".png", np.full((64, 64, 3), 128, np.uint8))[1].tobytes())
    cut = tmp_path / "cut.mpg"  # an MPEG file cut off mid-way, as a broken download leaves it
    cut.write_bytes(assets.fetch("samples/grid/s2/pwij3p.mpg", data_dir=tmp_path).read_bytes()[:150_000])
    no_run = tmp_path / "weights" / "t" / "none"  # never reached: the input is checked first
    out = tmp_path / "out.mp4"
    for bad, cause in ((png, "cannot tell its duration"), (cut, "looks truncated")):
        with pytest.raises(collect.CollectError, match=cause):  # what 01_collect says of it
            collect.verify_video(bad)
        with pytest.raises(video.VideoError) as err:
            swap.convert(bad, no_run, out, swap.SwapOptions(start=0.0), progress=False)
        msg = str(err.value)
        assert msg.startswith("INPUT: ") and str(bad) in msg and cause in msg and "START" not in msg, msg
        assert "\n" not in msg
    assert not out.exists()


def test_steps_below_the_steps_done_is_refused_before_reading_faces(tiny_run, tmp_path, capsys):
    from swaplab.train import loop as train

    weights = tmp_path / "weights"
    shutil.copytree(tiny_run, weights / "t" / "r1")
    no_faces = str(tmp_path / "no-data")  # reading faces would fail: the check must come first
    with pytest.raises(ValueError) as err:
        train.train(_train_config(weights, "r1", steps=1, data_dir=no_faces))
    msg = str(err.value)
    assert "STEPS=1 is below the 2 steps RUN='r1' has already trained: set STEPS above 2" in msg and "\n" not in msg
    capsys.readouterr()
    report = train.train(_train_config(weights, "r1", steps=2), data=_faces())  # equal: nothing to train, and it says so
    assert report["steps_this_session"] == 0
    assert "RUN='r1' has already trained STEPS=2 steps: nothing to train" in capsys.readouterr().out


def test_init_from_errors_name_it_before_reading_faces_and_leave_no_run_folder(tiny_run, tmp_path):
    from swaplab.train import loop as train

    weights = tmp_path / "weights"
    shutil.copytree(tiny_run, weights / "t" / "base")
    (weights / "t" / "half").mkdir()
    shutil.copy(tiny_run / "config.json", weights / "t" / "half")  # a config but no checkpoint
    no_faces = str(tmp_path / "no-data")
    for init_from in ("missing", "half"):
        with pytest.raises(FileNotFoundError) as err:
            train.train(_train_config(weights, "new", init_from=init_from, data_dir=no_faces))
        msg = str(err.value)
        assert f"INIT_FROM={init_from!r}: " in msg and "holds no trained run" in msg and "INIT_FROM=None" in msg, msg
    with pytest.raises(ValueError) as err:
        train.train(_train_config(weights, "new", model="lite", init_from="base", data_dir=no_faces))
    msg = str(err.value)
    assert "INIT_FROM='base' is a 'tiny' model at 32 px; MODEL='lite' cannot start from it" in msg, msg
    assert not (weights / "t" / "new").exists()
