"""augment: the warp keeps shapes and ranges, is not the identity, is reproducible, and the
affine part moves image, target and mask together."""

import numpy as np
import tensorflow as tf

from swaplab.train.augment import AugmentConfig, augment_batch, bilinear_sample
from swaplab.train.testing import synthetic_faces

NONE = AugmentConfig(warp_scale=0, rotation_deg=0, zoom=0, shift=0, flip=False,
                     brightness=0, contrast=0, saturation=0, hue_deg=0)


def test_warp_shapes_ranges_and_not_identity():
    images, masks = synthetic_faces(4, 32)
    warped, target, mask = augment_batch(images, masks, tf.constant([1, 2]))
    assert warped.shape == target.shape == (4, 32, 32, 3) and mask.shape == (4, 32, 32, 2)
    for t in (warped, target, mask):
        assert t.dtype == tf.float32 and 0.0 <= float(tf.reduce_min(t)) and float(tf.reduce_max(t)) <= 1.0
    assert float(tf.reduce_mean(tf.abs(warped - target))) > 0.02  # the input is distorted
    again = augment_batch(images, masks, tf.constant([1, 2]))[0]
    other = augment_batch(images, masks, tf.constant([1, 3]))[0]
    np.testing.assert_array_equal(warped.numpy(), again.numpy())
    assert not np.allclose(warped.numpy(), other.numpy())


def test_no_augmentation_is_identity():
    images, masks = synthetic_faces(2, 32)
    warped, target, mask = augment_batch(images, masks, tf.constant([0, 0]), NONE)
    np.testing.assert_allclose(warped.numpy(), images / 255.0, atol=1e-5)
    np.testing.assert_allclose(target.numpy(), images / 255.0, atol=1e-5)
    np.testing.assert_allclose(mask.numpy(), masks / 255.0, atol=1e-5)


def test_flip_moves_target_and_mask_together():
    images, masks = synthetic_faces(8, 32)
    flip_only = AugmentConfig(**{**NONE.__dict__, "flip": True})
    _, target, mask = augment_batch(images, masks, tf.constant([5, 5]), flip_only)
    for i in range(8):
        flipped = np.allclose(target[i].numpy(), images[i, :, ::-1] / 255.0, atol=1e-5)
        same = np.allclose(target[i].numpy(), images[i] / 255.0, atol=1e-5)
        assert flipped or same
        expected = masks[i, :, ::-1] if flipped and not same else masks[i]
        np.testing.assert_allclose(mask[i].numpy(), expected / 255.0, atol=1e-5)


def test_bilinear_sample_interpolates_between_pixels():
    image = tf.reshape(tf.range(16, dtype=tf.float32), (1, 4, 4, 1))  # value = 4 y + x
    coords = tf.constant([[[[1.5, 2.25]]]])  # (1, 1, 1, 2) (y, x)
    assert abs(float(bilinear_sample(image, coords)[0, 0, 0, 0]) - (4 * 1.5 + 2.25)) < 1e-5
