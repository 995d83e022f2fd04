"""A run's files stay bounded and small where they are read (issue 20): two checkpoints per stage (the latest and
the previous), a damaged latest falling back to the previous in one line, the weights-only float16 export that
04_swap loads (old runs without one still load), and previews/ and TensorBoard images that do not pile up.

Real Keras and real files: the "tiny" model (32 px) with a detail stage at 128 px on synthetic faces; the swap
of a real GRID clip for the export's precision. Seconds each.
"""

from __future__ import annotations

import shutil

import cv2
import h5py
import numpy as np
import pytest

from swaplab.core import assets, video
from swaplab.model import detail, runs, viz
from swaplab.model.models import build_swap_model
from swaplab.swap import pipeline as swap
from swaplab.train.loop import TrainConfig, train
from swaplab.train.testing import synthetic_faces

BIG = [synthetic_faces(12, 128, person=p) for p in (0, 1)]
SMALL = [tuple(np.stack([cv2.resize(x, (32, 32), interpolation=cv2.INTER_AREA if k == 0 else cv2.INTER_NEAREST)
                         for x in arrays]) for k, arrays in enumerate(face)) for face in BIG]
FILES = sorted([runs.CHECKPOINT, runs.previous(runs.CHECKPOINT), runs.EXPORT,
                runs.DETAIL, runs.previous(runs.DETAIL), runs.DETAIL_EXPORT])


def _config(weights, **kw) -> TrainConfig:
    base = dict(project="p", run="r", model="tiny", batch_size=4, steps=8, detail_steps=8, detail_size=128, log_every=2,
                save_every=2, preview_every=100, weights_dir=str(weights), data_dir=str(weights), learning_rate=1e-3)
    return TrainConfig(**{**base, **kw})


def _step_of(path) -> int:
    """The step a checkpoint holds: its optimizer's iteration count."""
    with h5py.File(path, "r") as f:
        return int(f["optimizer/vars/0"][()])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run of 8 steps of each stage, a checkpoint every 2: saved 4 + 1 times per stage."""
    cfg = _config(tmp_path_factory.mktemp("weights"))
    train(cfg, data=tuple(SMALL), detail_data=tuple(BIG))
    return cfg.run_dir


def _full_cascade(run_dir) -> detail.Cascade:
    """The cascade from the full checkpoints (as runs saved before exports load)."""
    ae = build_swap_model("tiny")
    runs.load_weights(ae, run_dir, "full")
    net = detail.build_detail_model(detail.DetailSpec(**runs.read_config(run_dir)["detail_spec"]))
    runs.load_weights(net, run_dir, "full", runs.DETAIL)
    return detail.Cascade(ae, net, runs.load_banks(run_dir))


def test_only_the_latest_and_the_previous_checkpoint_are_kept(run):
    assert sorted(p.name for p in run.iterdir() if p.suffix == ".h5") == FILES  # no pile, no temporary file
    for name in (runs.CHECKPOINT, runs.DETAIL):
        assert (_step_of(run / name), _step_of(run / runs.previous(name))) == (8, 6)  # the end's save kept 6
    assert runs.read_config(run)["steps_done"] == 8 and runs.read_config(run)["detail_steps_done"] == 8


def test_a_damaged_latest_falls_back_to_the_previous_in_one_line(run, tmp_path, capsys):
    weights = tmp_path / "weights"
    copy = weights / "p" / "r"
    shutil.copytree(run, copy)
    latest = copy / runs.CHECKPOINT
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])  # cut short, as a lost machine leaves it
    capsys.readouterr()
    report = train(_config(weights, steps=10), data=tuple(SMALL), detail_data=tuple(BIG))
    out = capsys.readouterr().out.splitlines()
    (line,) = [ln for ln in out if "is damaged" in ln]
    assert line.startswith(f"{latest} is damaged (Unable to synchronously open file (truncated file") and \
        line.endswith(f"): using the previous checkpoint, {runs.previous(runs.CHECKPOINT)} (step 6)"), out
    assert report["resumed_from_step"] == 6 and report["steps_done"] == 10
    # the damaged file was overwritten, not kept as "previous": both checkpoints are whole, of steps 10 and 8
    assert (_step_of(latest), _step_of(copy / runs.previous(runs.CHECKPOINT))) == (10, 8)


def test_the_export_is_small_and_is_what_04_swap_loads_even_alone(run, tmp_path):
    # no optimizer state, and float16 but for the small variables (all of the tiny detail net's are small: float32)
    for full, export, most in ((runs.CHECKPOINT, runs.EXPORT, 0.2), (runs.DETAIL, runs.DETAIL_EXPORT, 0.6)):
        ratio = (run / export).stat().st_size / (run / full).stat().st_size
        assert ratio < most, (export, ratio)
    with h5py.File(run / runs.EXPORT, "r") as f:
        assert "optimizer" not in f and f.attrs["swaplab_step"] == 8
        kinds = {}
        f.visititems(lambda name, x: kinds.setdefault(str(x.dtype), []).append(x.size) if isinstance(x, h5py.Dataset) else None)
    assert set(kinds) == {"float16", "float32"} and min(kinds["float16"]) >= runs.FLOAT32_BELOW > max(kinds["float32"])

    alone = tmp_path / "alone"  # only what 04_swap needs: config.json and the exports
    alone.mkdir()
    for name in (runs.CONFIG, runs.EXPORT, runs.DETAIL_EXPORT):
        shutil.copy(run / name, alone)
    assert runs.is_trained(alone) and not runs.has_checkpoint(alone)
    cascade = runs.load_cascade(alone, project="p")
    assert (cascade.image_size, cascade.output_size) == (32, 128)
    faces = SMALL[0][0][:6]
    exported, full = cascade.swap(faces, "b"), _full_cascade(run).swap(faces, "b")
    assert np.abs(exported - full).max() * 255 < 0.5  # the float16 export draws the same 8-bit faces


def test_a_clip_swapped_with_the_export_matches_the_full_weights(run, tmp_path):
    clip = assets.fetch("samples/grid/s1/bbir8p.mpg", data_dir=tmp_path)
    # colour transfer off: this 8-step run draws nearly flat faces, whose std RCT would stretch a hundredfold,
    # turning a thousandth of a level into tens (a trained run's faces have their own contrast)
    options = swap.SwapOptions(direction="a2b", duration=0.4, label="", color="none")
    outputs = {}
    for name, model in (("export", runs.load_cascade(run)), ("full", _full_cascade(run))):
        out = tmp_path / f"{name}.mp4"
        report = swap.convert(clip, model, out, options, progress=False)
        assert report.faces_swapped == 10
        outputs[name] = np.stack([f.image for f in video.FrameReader(out)]).astype(np.float32)
        outputs[name + "_frame"] = swap.preview_frame(clip, model, 5, options)[1].astype(np.float32)
    # the frame as composed, before H.264: the same 8-bit values but for a rounding edge here and there
    assert np.abs(outputs["export_frame"] - outputs["full_frame"]).max() <= 1
    # the encoded videos: x264 turns those few changed values into other block decisions now and then (the
    # demo's slim run measured a mean of 0.3 level over 2 s, max 21 in a few pixels): on the whole, the same video
    diff = np.abs(outputs["export"] - outputs["full"])
    assert diff.mean() < 0.5, (diff.mean(), diff.max())


def test_a_run_saved_before_exports_still_loads(run, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    for name in (runs.CONFIG, runs.CHECKPOINT, runs.DETAIL):  # the files of an issue-19 run
        shutil.copy(run / name, old)
    cascade = runs.load_cascade(old)
    assert cascade.output_size == 128
    faces = SMALL[1][0][:3]
    assert np.array_equal(cascade.swap(faces, "a"), _full_cascade(run).swap(faces, "a"))


def test_previews_keep_the_latest_few_and_a_doubling_history(tmp_path):
    folder = tmp_path / "previews"
    grid = np.zeros((8, 8, 3), np.uint8)
    for step in range(100, 20_001, 100):  # 200 previews, PREVIEW_EVERY=100
        viz.save_png(grid, folder / f"step_{step:06d}.png")
        viz.save_png(grid, folder / f"detail_step_{step:06d}.png")
        viz.prune_previews(folder, "", 100)
    kept = sorted(int(p.stem.split("_")[-1]) for p in folder.glob("step_*.png"))
    assert kept == [100, 200, 400, 800, 1600, 3200, 6400, 12800] + list(range(19_300, 20_001, 100))
    assert len(list(folder.glob("detail_step_*.png"))) == 200  # each stage's previews are thinned by its own LivePlot


def test_tensorboard_gets_a_doubling_history_of_grids_and_the_last(tmp_path):
    import tensorflow as tf

    board = viz.TensorBoardLog(tmp_path, [], lambda: 0, batch_size=4)
    board.on_train_begin()
    for step in range(10, 201, 10):  # 20 grids in a session
        board.image(step, np.zeros((8, 8, 3), np.uint8))
    board.on_train_end()
    logged = [e.step for f in sorted((tmp_path / runs.TENSORBOARD).iterdir())
              for e in tf.compat.v1.train.summary_iterator(str(f)) if e.summary.value]
    assert logged == [10, 20, 40, 80, 160, 200]
