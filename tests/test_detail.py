"""The detail stage: its net, its training pairs, its place in a run (train, resume, INIT_FROM) and in 04_swap.

Real Keras and real face sets (the ``aligned_project`` fixture: GRID faces at 128 px), the ``tiny`` model at 32 px
with a detail stage at 128 px; seconds each.
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf

from swaplab.core import assets
from swaplab.model import detail, exemplars, pairs, runs
from swaplab.model.models import build_swap_model
from swaplab.notebook import widgets
from swaplab.swap import pipeline as swap
from swaplab.train.loop import TrainConfig, train
from swaplab.train.testing import synthetic_faces


def _small(faces, size):
    """(images, masks) of the face-set format shrunk to ``size`` px, as the model reads them."""
    images, masks = faces
    return (np.stack([cv2.resize(i, (size, size), interpolation=cv2.INTER_AREA) for i in images]),
            np.stack([cv2.resize(m, (size, size), interpolation=cv2.INTER_NEAREST) for m in masks]))


BIG = [synthetic_faces(12, 128, person=p) for p in (0, 1)]
SMALL = [_small(f, 32) for f in BIG]


def test_the_net_draws_any_face_size_at_its_scale_and_starts_as_upscale_plus_exemplar_detail():
    spec = detail.DetailSpec(32, 128, width=8, blocks=1)
    net = detail.build_detail_net(spec)
    face = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32) * 0.5 + 0.25
    fine = np.random.default_rng(1).normal(0, 0.05, (2, 128, 128, 3)).astype(np.float32)
    out = net([face, fine]).numpy()
    assert out.shape == (2, 128, 128, 3)
    bicubic = tf.image.resize(face, (128, 128), method="bicubic").numpy()
    assert np.allclose(out, np.clip(bicubic + fine, 0, 1), atol=1e-5)  # the learned correction starts at zero
    assert net([tf.zeros((1, 20, 20, 3)), tf.zeros((1, 80, 80, 3))]).shape == (1, 80, 80, 3)  # it trains on windows
    big = detail.build_detail_net(detail.DetailSpec(64, 128, 8, 1))
    assert big([tf.zeros((1, 64, 64, 3)), tf.zeros((1, 128, 128, 3))]).shape == (1, 128, 128, 3)
    with pytest.raises(ValueError, match="DETAIL_SIZE=96 for a 32 px model: use 64 or 128"):
        detail.build_detail_net(detail.DetailSpec(32, 96))


def test_it_learns_to_draw_detail_a_bicubic_upscale_lacks():
    """Trained on degraded synthetic faces for a few seconds, it draws faces it never saw closer to the real ones
    than the bicubic upscale, by the measure it is trained on (L1 + edges inside the face)."""
    tf.keras.utils.set_random_seed(0)
    model = detail.build_detail_model(detail.DetailSpec(32, 128, width=16, blocks=1))
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3))
    train_sides = {s: (None, None, *f) for s, f in zip("ab", (synthetic_faces(24, 128, person=0, seed=1),) * 2)}
    model.fit(pairs.make_dataset(train_sides, 8, 0, "degraded", 32), steps_per_epoch=200, epochs=1, verbose=0)
    faces, masks = synthetic_faces(6, 128, person=0, seed=9)
    target = faces.astype(np.float32) / 255
    small = pairs.degrade(tf.constant(target), 32, tf.constant([3, 4], tf.int64), blur_max=0.6).numpy()
    bicubic = tf.image.resize(small, (128, 128), method="bicubic").numpy()
    drawn = model.enhance(small, "a")
    assert drawn.shape == (6, 128, 128, 3) and 0 <= drawn.min() and drawn.max() <= 1
    with pytest.raises(ValueError, match=r"fine has shape \(6, 64, 64, 3\): expected \(6, 128, 128, 3\)"):
        model.enhance(small, "a", fine=np.zeros((6, 64, 64, 3), np.float32))
    wild = np.full((6, 128, 128, 3), 3.0, np.float32)  # beyond any detail band: met as training met it (int8)
    assert np.allclose(model.enhance(small, "a", fine=wild), model.enhance(small, "a", fine=wild / 6), atol=1e-6)
    m = tf.constant(masks.astype(np.float32) / 255)
    assert float(detail.detail_loss(target, drawn, m)) < 0.95 * float(detail.detail_loss(target, bicubic, m))


def test_degrade_shrinks_blurs_and_repeats_with_its_seed():
    faces = tf.constant(BIG[0][0][:4].astype(np.float32) / 255)
    seed = tf.constant([1, 2], tf.int64)
    a, b = pairs.degrade(faces, 32, seed), pairs.degrade(faces, 32, seed)
    assert a.shape == (4, 32, 32, 3) and np.array_equal(a.numpy(), b.numpy())
    sharp = pairs.degrade(faces, 32, seed, blur_max=0.06, noise=0.0).numpy()
    soft = pairs.degrade(faces, 32, seed, blur_max=3.0, noise=0.0).numpy()
    assert np.abs(np.diff(soft, axis=1)).mean() < np.abs(np.diff(sharp, axis=1)).mean()


@pytest.mark.parametrize("kind", detail.PAIRS)
def test_pairs_are_windows_of_the_same_face_flipped_together(kind):
    recon = [(f[0].astype(np.float32) / 255) for f in SMALL]  # a perfect decoder: the small faces themselves
    fine = [np.clip(np.rint((f[0].astype(np.float32) / 255 - 0.5) * detail.FINE_SCALE), -127, 127).astype(np.int8) for f in BIG]
    sides = {s: (r if kind != "degraded" else None, q, *b) for s, r, q, b in zip("ab", recon, fine, BIG)}
    batch = next(iter(pairs.make_dataset(sides, 4, 0, kind, 32)))
    n = round(pairs.PATCH * 32)
    assert batch["in_a"].shape == (4, n, n, 3) and batch["target_b"].shape == (4, 4 * n, 4 * n, 3)
    assert batch["mask_a"].shape == (4, 4 * n, 4 * n, 2) and batch["fine_a"].shape == (4, 4 * n, 4 * n, 3)
    # the exemplar detail is cut and flipped with its face (here it is the face itself, shifted by -0.5)
    assert np.abs(batch["fine_a"].numpy() + 0.5 - batch["target_a"].numpy()).max() < 0.01
    shrunk = tf.image.resize(batch["target_a"], (n, n), method="area").numpy()
    err = np.abs(shrunk - batch["in_a"].numpy()).mean()  # the input is the target's window, shrunk (and blurred)
    assert err < 0.06, err
    with pytest.raises(ValueError, match="DETAIL_PAIRS='noise'"):
        pairs.make_dataset(sides, 4, 0, "noise", 32)


def test_config_checks_the_detail_fields(tmp_path):
    base = dict(project="p", model="tiny", weights_dir=str(tmp_path), data_dir=str(tmp_path))
    for kw, message in ((dict(detail_size=96), "DETAIL_SIZE=96: use 64 or 128"),
                        (dict(detail_share=1.0), "DETAIL_SHARE=1.0"),
                        (dict(detail_steps=-1), "DETAIL_STEPS=-1"),
                        (dict(detail_pairs="noise"), "DETAIL_PAIRS=.noise.")):
        with pytest.raises(ValueError, match=message):
            TrainConfig(**base, **kw).validate(faces=False)
    assert TrainConfig(**base, steps=30, detail_share=0.25).validate(faces=False).detail_steps == 10  # the same share
    # DETAIL_SHARE=0 gives the detail stage no steps, and the config stays valid when train() validates it again
    assert TrainConfig(**base, steps=30, detail_share=0.0).validate(faces=False).validate(faces=False).detail_steps == 0


def _config(aligned_project, run="d1", **kw):
    data, weights, project = aligned_project
    base = dict(project=project, run=run, model="tiny", batch_size=4, steps=4, log_every=2, save_every=2, preview_every=2,
                data_dir=str(data), weights_dir=str(weights), detail_steps=4)
    return TrainConfig(**{**base, **kw})


def test_a_run_trains_saves_and_resumes_its_detail_stage(aligned_project, monkeypatch, capsys):
    # each person here is one 3 s clip: about half its faces find an exemplar 2 s away, under the bar a real face
    # set of several clips clears; lowered here so the run keeps its banks (the bar itself: test_exemplars)
    monkeypatch.setattr(exemplars, "MIN_COVERAGE", 0.3)
    cfg = _config(aligned_project)
    report = train(cfg)
    run = cfg.run_dir
    saved = runs.read_config(run)
    assert cfg.detail_size == 128 and saved["detail_size"] == 128  # 4x the model, as far as the 128 px face sets hold
    assert saved["detail_spec"] == {"in_size": 32, "size": 128, "width": 8, "blocks": 1, "warp": False, "confidence": False,
                                   "sketch": detail.SKETCH, "blend": exemplars.K}
    for side in "ab":  # each person's exemplars, saved into the run so it swaps without its face sets
        assert len(exemplars.ExemplarBank.load(run / f"detail_bank_{side}.npz")) > 10
    assert saved["detail_banks"] == ["a", "b"]
    copy = run.parent / "copied_without_a_bank"  # a run copied elsewhere, one bank left behind: said, in one line
    shutil.copytree(run, copy)
    (copy / "detail_bank_b.npz").unlink()
    runs.load_cascade(copy)
    assert f"{copy / 'detail_bank_b.npz'} is missing: person B is drawn without the exemplars" in capsys.readouterr().out
    runs.load_cascade(run)
    assert "is missing" not in capsys.readouterr().out
    assert report["detail"]["steps_done"] == 4 and saved["detail_steps_done"] == 4 and saved["steps_done"] == 4
    for name in ("detail.weights.h5", "detail_history.json", "detail_loss.png", "previews/detail_step_000004.png"):
        assert (run / name).exists(), name
    grid = cv2.imread(str(run / "previews" / "detail_step_000004.png"))
    assert grid.shape[:2] == (3 * 128, 6 * 128)  # A, A->B, A->B + detail | B, B->B, B->B + detail, 3 faces
    before = runs.load_detail(run).net_b.get_weights()
    again = train(_config(aligned_project, steps=6, detail_steps=6))
    assert (again["resumed_from_step"], again["detail"]["steps_done"], again["detail"]["steps_this_session"]) == (4, 6, 2)
    assert [h["step"] for h in runs.read_history(run, stage="detail")] == [2, 4, 6]
    assert not np.allclose(before[0], runs.load_detail(run).net_b.get_weights()[0])
    with pytest.raises(ValueError, match="RUN='d1' has a detail stage at 128 px: set DETAIL_SIZE=128"):
        _config(aligned_project, steps=8, detail_steps=8, detail_size=64).validate()
    with pytest.raises(ValueError, match="DETAIL_STEPS=2 is below the 6 steps"):
        _config(aligned_project, steps=8, detail_steps=2).validate()


def test_init_from_starts_the_detail_stage_from_the_source_run(aligned_project):
    source = _config(aligned_project, run="src")
    train(source)
    warm = _config(aligned_project, run="warm", init_from="src", detail_steps=1, learning_rate=1e-9)
    train(warm)
    a, b = (runs.load_detail(c.run_dir).net_b.get_weights()[0] for c in (source, warm))
    assert np.allclose(a, b, atol=1e-4)  # a step at a vanishing learning rate: the source's weights, carried over


def test_without_face_sets_or_with_detail_size_0_there_is_no_detail_stage(tmp_path):
    cfg = TrainConfig(project="p", run="r", model="tiny", batch_size=4, steps=2, log_every=1, save_every=10,
                      preview_every=10, weights_dir=str(tmp_path), data_dir=str(tmp_path))
    report = train(cfg, data=tuple(SMALL))
    assert cfg.detail_size == 0 and "detail" not in report and not runs.has_detail(cfg.run_dir)
    assert runs.load_cascade(cfg.run_dir).output_size == 32


def test_the_time_budget_is_shared_with_the_detail_stage_and_counts_every_session(tmp_path, capsys):
    cfg = TrainConfig(project="p", run="t", model="tiny", batch_size=4, steps=10**6, time_budget_min=0.2, detail_share=0.5,
                      log_every=1, save_every=10**6, preview_every=10**6, weights_dir=str(tmp_path), data_dir=str(tmp_path),
                      detail_size=128)
    report = train(cfg, data=tuple(SMALL), detail_data=tuple(BIG))
    ae, dt = runs.read_history(cfg.run_dir), runs.read_history(cfg.run_dir, stage="detail")
    ae_seconds, detail_seconds = ae[-1]["time_s"], dt[-1]["time_s"]
    # a stage stops at the first step boundary past its share: it may overrun by one step (the first, which traces
    # the graph, is the longest; on a loaded machine it can take seconds), never by more
    ae_step, dt_step = (max(np.diff([0.0] + [h["time_s"] for h in hist])) for hist in (ae, dt))
    assert 5.0 <= ae_seconds <= 6.0 + ae_step + 0.5, (ae_seconds, ae_step)  # half of 12 s, then the detail stage the rest
    assert report["detail"]["steps_done"] > 0 and detail_seconds <= 12.0 - ae_seconds + dt_step + 0.5, \
        (ae_seconds, detail_seconds, dt_step)
    # the budget is the run's in all: the same budget again trains nothing and says so; a bigger one trains on
    again = train(cfg, data=tuple(SMALL), detail_data=tuple(BIG))
    assert (again["steps_done"], again["detail"]["steps_done"]) == (report["steps_done"], report["detail"]["steps_done"])
    assert "nothing to train; raise TIME_BUDGET_MIN" in capsys.readouterr().out
    cfg.time_budget_min = 0.3
    more = train(cfg, data=tuple(SMALL), detail_data=tuple(BIG))
    assert more["steps_done"] > report["steps_done"] and more["detail"]["steps_done"] > report["detail"]["steps_done"]
    ae = runs.read_history(cfg.run_dir)
    longest = max(np.diff([0.0] + [h["time_s"] for h in ae]))
    assert ae[-1]["time_s"] <= 0.3 * 60 * 0.5 + longest + 0.5, (ae[-1]["time_s"], longest)  # the autoencoder's half of 18 s


def test_04_swap_draws_with_the_detail_stage_and_can_turn_it_off(aligned_project, tmp_path):
    cfg = _config(aligned_project, run="sw")
    train(cfg)
    clip = assets.fetch("samples/grid/s1/bbir8p.mpg", data_dir=tmp_path)
    cascade = runs.load_cascade(cfg.run_dir)
    assert (cascade.image_size, cascade.output_size) == (32, 128)
    reports = {}
    for on in (True, False):
        opts = swap.SwapOptions(direction="a2b", duration=0.4, label="", detail=on)
        reports[on] = swap.convert(clip, cascade, tmp_path / f"out_{on}.mp4", opts, progress=False)
    assert reports[True].drawn_size == 128 and reports[False].drawn_size == 32
    # a GRID face spans ~175 px: drawn at 32 px it is stretched ~5x, and the report says so; at 128 px ~1.4x
    assert reports[False].stretch > 4 and 1 < reports[True].stretch < 1.5
    assert any("stretched" in w for w in reports[False].warnings) and not any("stretched" in w for w in reports[True].warnings)
    assert reports[True].ms_per_frame["detail"] > 0 and reports[False].ms_per_frame["detail"] == 0
    cache: dict = {}
    try:
        frames = [swap.preview_frame(clip, cascade, 5, swap.SwapOptions(direction="a2b", label="", detail=on), cache)[1]
                  for on in (True, False, True)]
    finally:
        cache["pipeline"].close()  # its MediaPipe landmarker, now: at interpreter exit its close can hang
    assert not np.array_equal(frames[0], frames[1]) and np.array_equal(frames[0], frames[2])
    namespace: dict = {}
    panel = widgets.scrubber(clip, cascade, swap.SwapOptions(direction="a2b"), namespace)
    detail_box, image = panel.children[2].children[3], panel.children[3]
    before = image.value
    detail_box.value = False  # the autoencoder's face alone, stretched: another picture, and DETAIL=False for the run
    assert image.value != before and namespace["DETAIL"] is False


def test_a_swap_finds_the_targets_exemplars_by_the_faces_own_landmarks():
    """For A -> B, B's exemplars are found by A's own aligned landmarks (where the decoder draws B's features),
    never moved onto B's mean face shape: a source with another face shape gets the crops that line up with it."""
    rng = np.random.default_rng(0)
    images = BIG[1][0]
    landmarks = rng.uniform(30, 98, (1, 478, 2)).astype(np.float32) + rng.normal(0, 3, (len(images), 478, 2)).astype(np.float32)
    bank_b = exemplars.ExemplarBank.from_arrays(images, landmarks, sources=np.arange(len(images)))
    bank_a = exemplars.ExemplarBank.from_arrays(images, landmarks + np.float32([6.0, -4.0]), sources=np.arange(len(images)))
    cascade = detail.Cascade(build_swap_model("tiny", 32), detail.build_detail_model(detail.DetailSpec(32, 128, width=8, blocks=1)),
                             {"a": bank_a, "b": bank_b})
    face_of_a = landmarks[5]  # A's face whose features sit where B's 6th crop has them
    want = bank_b.detail(*bank_b.neighbours(bank_b.points[5], cascade.detail.spec.blend), 32)
    assert np.allclose(cascade.exemplar_detail([face_of_a], "b"), want)
    assert np.allclose(cascade.swap(SMALL[0][0][:1], "b", landmarks=[face_of_a]),
                       cascade.detail.enhance(cascade.autoencoder.swap(SMALL[0][0][:1], to="b"), "b", want[None]))
