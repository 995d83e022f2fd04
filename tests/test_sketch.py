"""The face's sketch (``swaplab.face.sketch``) and the decoder faces of warped inputs (``DETAIL_PAIRS="warped"``).

On real GRID faces (``aligned_project``: MediaPipe landmarks of real frames, crops at 128 px): the sketch's lines lie
on the lips and lids, its openings inside the inner lips and the irises, an open mouth opens them; a net of
``DetailSpec.sketch`` reads them in training and in a swap; the warped pairs reconstruct half the faces from warped
inputs.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tensorflow as tf

from swaplab.face import align, sketch
from swaplab.face.faceset import load_training_arrays
from swaplab.model import detail, exemplars, pairs
from swaplab.model.models import build_swap_model
from swaplab.train import augment

LOWER = [146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324]  # lower lip, outer + inner


def _at(img: np.ndarray, points: np.ndarray) -> np.ndarray:
    x, y = np.clip(np.round(points).astype(int), 0, img.shape[0] - 1).T
    return img[y, x]


def test_the_sketch_draws_lips_lids_and_irises_where_the_landmarks_are(bank):
    lm = bank.mesh[0]
    drawn = sketch.draw(lm, 128)
    assert drawn.shape == (128, 128, 2) and drawn.dtype == np.float32 and drawn.max() <= sketch.SCALE + 1e-6
    lines, openings = drawn[..., 0], drawn[..., 1]
    for idx in (align.LIPS, align.LEFT_EYE, align.RIGHT_EYE):
        assert np.mean(_at(lines, lm[idx]) > 0.2) > 0.9  # the contours pass through their points
    assert _at(openings, lm[[468, 473]]).min() > 0.4  # each iris's centre is inside its disc
    far = np.ones((128, 128), bool)
    x0, y0 = lm.min(0).astype(int) - 6
    x1, y1 = lm[align.LIPS + align.LEFT_EYE + align.RIGHT_EYE].max(0).astype(int) + 6
    far[max(y0, 0):y1, max(x0, 0):x1] = False
    assert drawn[far].max() == 0  # nothing but those features: no texture, no colour of the face
    opened = np.array(lm)
    opened[LOWER, 1] += 6  # the lower lip drops 6 px: the mouth's opening grows
    assert sketch.draw(opened, 128)[..., 1].sum() > openings.sum() + 6 * 5 * sketch.SCALE
    assert not sketch.draw(lm[:468], 128).any() and not sketch.draw(np.full((478, 2), np.nan), 128).any()


def test_training_jitter_moves_the_landmarks_a_little_and_repeats_with_its_seed(bank):
    lm = bank.mesh[0]
    moved = [sketch.jitter(lm, 128, 32, np.random.default_rng(s)) for s in range(20)]
    shift = np.array([np.abs(m - lm).max() for m in moved])
    # at most SHIFT decoder px (x4 at 128 px from 32) plus the zoom and the turn over the face's half-span
    bound = sketch.SHIFT * 4 + (sketch.ZOOM + np.deg2rad(sketch.TURN_DEG)) * np.ptp(lm, 0).max()
    assert 0 < shift.min() and shift.max() < bound
    assert np.array_equal(moved[3], sketch.jitter(lm, 128, 32, np.random.default_rng(3)))


def test_a_sketching_net_trains_on_sketches_and_a_cascade_draws_with_them(bank, aligned_project):
    data, _, project = aligned_project
    big = load_training_arrays(data / project / "b" / "faces", 128)
    small = (np.stack([cv2.resize(i, (32, 32), interpolation=cv2.INTER_AREA) for i in big[0]]), None)
    spec = detail.DetailSpec(32, 128, width=8, blocks=1, sketch=True)
    assert spec.channels == 5 and detail.spec_for("tiny", 32, 128).sketch == detail.SKETCH
    sides = pairs.training_sides(None, (small, small), (big, big), "degraded", {"a": bank, "b": bank}, spec=spec)
    fine = sides["b"][1]
    assert fine.dtype == np.int8 and fine.shape == (len(bank), 128, 128, 5)
    # the first face's sketch: its landmarks moved by the first jitter of the seed's generator, then drawn
    expected = sketch.draw(sketch.jitter(bank.mesh[0], 128, 32, np.random.default_rng(0)), 128)
    assert np.abs(fine[0, ..., 3:].astype(np.float32) / pairs.FINE_SCALE - expected).max() <= 0.5 / pairs.FINE_SCALE + 1e-6
    near = cv2.dilate((fine[0, ..., 3] > 0).astype(np.uint8), np.ones((7, 7), np.uint8))  # jittered a few px at most
    assert np.mean(_at(near, bank.mesh[0][align.LIPS]) > 0) > 0.9
    model = detail.build_detail_model(spec)
    model.compile(optimizer="adam")
    model.fit(pairs.make_dataset(sides, 4, 0, "degraded", 32), steps_per_epoch=2, epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2
    cascade = detail.Cascade(build_swap_model("tiny", 32), model, {"b": bank})
    got = cascade.exemplar_detail(bank.mesh[[1, 2]], "b")
    assert got.shape == (2, 128, 128, 5) and np.allclose(got[..., 3:], sketch.draw_all(bank.mesh[[1, 2]], 128))
    assert cascade.swap(small[0][:2], "b", landmarks=bank.mesh[[1, 2]]).shape == (2, 128, 128, 3)


def test_warped_pairs_reconstruct_half_the_faces_from_warped_inputs(bank, aligned_project):
    data, _, project = aligned_project
    faces, _ = load_training_arrays(data / project / "b" / "faces", 32)
    warp = lambda x, seed: augment.warp_inputs(x, tf.constant([seed, 1]))  # noqa: E731
    got = pairs._inputs(faces, "warped", warp, seed=5)
    changed = np.abs(got - faces / 255.0).mean(axis=(1, 2, 3)) > 0.01
    assert got.dtype == np.float32 and changed.sum() == len(faces) // 2
    assert np.array_equal(got, pairs._inputs(faces, "warped", warp, seed=5))
    assert pairs._inputs(faces, "reconstructions", warp, 5) is faces
    with pytest.raises(ValueError, match="DETAIL_PAIRS='warped' needs"):
        pairs._inputs(faces, "warped", None, 5)


def test_the_detail_stage_trains_on_a_bounded_spread_of_a_big_face_set(bank, aligned_project, monkeypatch, capsys):
    from types import SimpleNamespace

    from swaplab.train import detail_stage

    data, _, project = aligned_project
    images, masks = load_training_arrays(data / project / "b" / "faces", 128)
    small = (np.stack([cv2.resize(i, (32, 32), interpolation=cv2.INTER_AREA) for i in images]), masks[:, ::4, ::4])
    config = SimpleNamespace(seed=0, person_b="s2")
    assert detail_stage._capped(config, "b", small, (images, masks, bank))[0] is small  # under the cap: as given
    monkeypatch.setattr(detail_stage, "FACES_MAX", 10)
    got_small, got_big = detail_stage._capped(config, "b", small, (images, masks, bank))
    idx = bank.spread(10, 0)
    assert len(set(idx.tolist())) == 10 and np.array_equal(got_big[0], images[idx]) and np.array_equal(got_small[0], small[0][idx])
    assert np.array_equal(got_small[1], small[1][idx]) and np.array_equal(got_big[1], masks[idx])
    assert isinstance(got_big[2], exemplars.ExemplarBank) and np.array_equal(got_big[2].mesh, bank.mesh[idx])
    assert f"trains on 10 of the {len(images)} faces" in capsys.readouterr().out
    plain = detail_stage._capped(config, "b", small, (images, masks))  # faces given in memory without landmarks
    assert len(plain[1]) == 2 and len(plain[1][0]) == 10 and np.array_equal(plain[0][0][0], small[0][plain_first(images, plain[1][0])])


def plain_first(images: np.ndarray, chosen: np.ndarray) -> int:
    """Index in ``images`` of the first of ``chosen``."""
    return int(np.flatnonzero((images == chosen[0]).all(axis=(1, 2, 3)))[0])


def test_neighbour_pairs_give_half_the_faces_their_nearest_face_from_another_clip(bank, aligned_project):
    data, _, project = aligned_project
    faces, _ = load_training_arrays(data / project / "b" / "faces", 32)
    nearest, weights = bank.neighbours_of_each(1)
    got = pairs._inputs(faces, "neighbours", None, seed=2, bank=bank)
    moved = [i for i in range(len(faces)) if not np.array_equal(got[i], faces[i])]
    assert 0 < len(moved) <= len(faces) // 2
    assert all(np.array_equal(got[i], faces[nearest[i, 0]]) and weights[i, 0] > 0 for i in moved)
    assert pairs._inputs(faces, "neighbours", None, 2) is faces  # no bank (too few clips): its own faces
