"""Synthetic expressions for training (``swaplab.face.expression``, ``faceset.load_expression_arrays``, EXPRESSIONS).

On real GRID faces (``aligned_project``: crops at 128 px with their MediaPipe landmarks): a variant's pixels follow
its moved landmarks (MediaPipe, run again on the warped crop, finds the lids and lips where the variant says they
are), lids narrow and widen, an open mouth opens wider or less, a closed mouth is never opened, and the training
arrays of the variants carry masks and sketches drawn on the moved points.
"""

from __future__ import annotations

import numpy as np
import pytest

from swaplab.face import align, expression, sketch
from swaplab.face.faceset import FaceSet, load_expression_arrays, load_training_arrays
from swaplab.face.landmarks import Landmarker
from swaplab.train import loop as train
from swaplab.train.data import with_expressions


def _faces(aligned_project, person="b"):
    data, _, project = aligned_project
    fs = FaceSet(data / project / person / "faces")
    rows = fs.kept()
    pts = np.array([r["landmarks"] for r in rows], np.float64)
    return fs, rows, pts


def _eye_gap(pts):
    return float(np.mean([np.mean(pts[lower, 1] - pts[upper, 1]) for upper, lower in expression._EYES]))


def _mouth_gap(pts):
    return float(np.mean(pts[expression.INNER_LOWER, 1] - pts[expression.INNER_UPPER, 1]))


def test_a_variants_pixels_follow_its_moved_landmarks(aligned_project, monkeypatch):
    fs, rows, pts = _faces(aligned_project)
    tri = expression.triangles(pts)
    i = int(np.argmax([_eye_gap(p) for p in pts]))  # wide open eyes: room to narrow them
    image = fs.image(rows[i])
    monkeypatch.setattr(expression, "LID", (0.5, 0.5))  # lids half way down, every time
    monkeypatch.setattr(expression, "EYES_P", 1.0)
    moved_img, moved = expression.variant(image, pts[i], np.random.default_rng(0), tri)
    assert moved_img.shape == image.shape and moved_img.dtype == image.dtype and moved.shape == (478, 2)
    assert _eye_gap(moved) < 0.7 * _eye_gap(pts[i])
    with Landmarker("image", num_faces=1) as lm:
        (seen,) = lm.detect(moved_img)
        (before,) = lm.detect(image)
    seen, before = seen.landmarks.astype(np.float64), before.landmarks.astype(np.float64)
    span = np.linalg.norm(pts[i][33] - pts[i][263])
    # MediaPipe sees the narrowed lids about where the variant put them, not where they were
    assert _eye_gap(seen) < 0.8 * _eye_gap(before)
    assert abs(_eye_gap(seen) - _eye_gap(moved)) < abs(_eye_gap(seen) - _eye_gap(pts[i]))
    eyes = sum((list(u) + list(l) for u, l in expression._EYES), [])
    assert np.median(np.linalg.norm(seen[eyes] - moved[eyes], axis=1)) < 0.05 * span


def test_moves_are_bounded_and_a_closed_mouth_is_never_opened(aligned_project):
    _, _, pts = _faces(aligned_project)
    rng = np.random.default_rng(1)
    widths = np.linalg.norm(pts[:, 291] - pts[:, 61], axis=1)
    closed = [p for p, w in zip(pts, widths) if _mouth_gap(p) < expression.MIN_OPEN * w]
    opened = [p for p, w in zip(pts, widths) if _mouth_gap(p) >= 2 * expression.MIN_OPEN * w]
    assert closed and opened, "the fixture clip has closed and open mouths"
    for p in closed[:10]:
        for _ in range(5):
            q = expression.move(p, rng)
            assert _mouth_gap(q) <= _mouth_gap(p) + 1e-6  # only stretched sideways
            assert np.all(q[expression._EYES[0][0], 1] <= q[expression._EYES[0][1], 1] + 1e-6)  # lids never cross
    gaps = [_mouth_gap(expression.move(p, rng)) / _mouth_gap(p) for p in opened[:10] for _ in range(5)]
    lo, hi = expression.MOUTH
    assert min(gaps) >= 1 + lo - 1e-6 and max(gaps) <= 1 + hi + 1e-6 and np.ptp(gaps) > 0.5  # wider and narrower
    assert np.allclose(expression.move(pts[0], np.random.default_rng(3)), expression.move(pts[0], np.random.default_rng(3)))


def test_expression_arrays_carry_masks_and_sketches_of_the_moved_faces(aligned_project):
    data, _, project = aligned_project
    folder = data / project / "b" / "faces"
    real_images, _ = load_training_arrays(folder, 64, sketch=True)
    images, masks = load_expression_arrays(folder, 64, 0.5, seed=0, sketch=True)
    n = len(real_images)
    assert images.shape == (round(0.5 * n), 64, 64, 3) and masks.shape == (round(0.5 * n), 64, 64, 4)
    again, _ = load_expression_arrays(folder, 64, 0.5, seed=0, sketch=True)
    assert np.array_equal(images, again)  # the same faces every session: a resumed run trains on what it began with
    assert not np.array_equal(images, load_expression_arrays(folder, 64, 0.5, seed=1, sketch=True)[0])
    # the sketch channels sit on the variant's own lips: the opening lies inside the mouth mask
    opening, parts = masks[..., 3] > 128, masks[..., 1] > 0
    assert opening.sum() and (opening & parts).sum() > 0.9 * opening.sum()
    more, masks2 = load_expression_arrays(folder, 64, 1.5, seed=0)
    assert len(more) == round(1.5 * n) and masks2.shape[-1] == 2
    none, none_masks = load_expression_arrays(folder, 64, 0.0, sketch=True)
    assert none.shape == (0, 64, 64, 3) and none_masks.shape == (0, 64, 64, 2 + sketch.CHANNELS)


def test_training_adds_the_variants_to_what_the_autoencoder_sees(aligned_project, tmp_path):
    data, weights, project = aligned_project
    config = train.TrainConfig(project=project, model="tiny_sketch", expressions=0.5, data_dir=str(data),
                               weights_dir=str(tmp_path))
    real = train.load_training_data(config)
    both = with_expressions(config, real)
    for r, b in zip(real, both):
        assert len(b[0]) == len(r[0]) + round(config.expressions * len(r[0])) and b[1].shape[-1] == 4
        assert np.array_equal(b[0][: len(r[0])], r[0])  # the real faces first, as the detail stage pairs them
    off = train.TrainConfig(project=project, model="tiny", expressions=0.0, data_dir=str(data), weights_dir=str(tmp_path))
    plain = train.load_training_data(off)
    assert with_expressions(off, plain) is plain
    with pytest.raises(ValueError, match=r"EXPRESSIONS=-1.*\[0, 4\]"):
        train.TrainConfig(project=project, expressions=-1, data_dir=str(data), weights_dir=str(tmp_path)).validate()
    assert align.LEFT_EYE[9:16][::-1] == expression._EYES[0][0]
