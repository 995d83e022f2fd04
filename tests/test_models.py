"""models: registry shapes, swap/reconstruct contracts, FLOP counts, and losses."""

import numpy as np
import pytest
import tensorflow as tf

from swaplab.model.losses import face_loss, masked_mae
from swaplab.model.models import MODELS, build_swap_model, flops_per_face, param_count


def test_swap_shapes_and_range():
    model = build_swap_model("tiny")
    faces = np.random.default_rng(0).random((5, 32, 32, 3), dtype=np.float32)
    for out in (model.swap(faces, to="b"), model.swap(faces, to="a"), model.reconstruct(faces, "a", batch_size=2)):
        assert out.shape == (5, 32, 32, 3) and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(model.swap(faces), model.reconstruct(faces, "b"), atol=1e-6)
    with pytest.raises(ValueError, match="expected"):
        model.swap(faces[:, :16, :16])
    with pytest.raises(ValueError, match="'a' or 'b'"):
        model.reconstruct(faces, "c")


def test_unknown_model_or_size_fails_clearly():
    with pytest.raises(ValueError, match="unknown"):
        build_swap_model("huge")
    with pytest.raises(ValueError, match="32 px"):
        build_swap_model("tiny", 64)


def test_lite_is_far_cheaper_than_original():
    lite, original = build_swap_model("lite"), build_swap_model("original")
    assert {"original", "lite", "hd128"} <= set(MODELS)
    assert lite.image_size == original.image_size == 64
    assert flops_per_face(lite) * 5 < flops_per_face(original)
    assert param_count(lite) * 3 < param_count(original)
    # original's first conv: 32x32 outputs x 5x5x3 inputs x 128 filters x 2 (multiply-add) x 3 (train)
    assert flops_per_face(original) > 3 * 2 * 32 * 32 * 75 * 128


def test_masked_loss_ignores_outside_of_mask():
    rng = np.random.default_rng(0)
    target = rng.random((2, 32, 32, 3), dtype=np.float32)
    mask = np.zeros((2, 32, 32, 2), np.float32)
    mask[:, 8:24, 8:24, 0] = 1
    pred = target.copy()
    pred[:, :4] = 1 - pred[:, :4]  # errors only outside the hull
    assert float(face_loss(target, pred, mask)) < 1e-6
    pred[:, 10:12, 10:12] += 0.5  # an error inside counts
    assert float(face_loss(target, pred, mask)) > 1e-3


def test_eyes_and_mouth_weigh_more():
    target = tf.zeros((1, 8, 8, 3))
    hull = tf.ones((1, 8, 8, 1))
    pred = tf.tensor_scatter_nd_update(target, [[0, 2, 2, 0]], [1.0])
    plain = masked_mae(target, pred, hull)
    eyes = tf.zeros((1, 8, 8, 1)) + tf.scatter_nd([[0, 2, 2, 0]], [1.0], (1, 8, 8, 1))
    assert float(masked_mae(target, pred, hull * (1 + 2 * eyes))) > float(plain)
