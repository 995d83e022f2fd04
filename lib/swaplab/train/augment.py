"""Random warp and colour augmentation as TensorFlow ops, on whole batches, in the graph.

The DeepFakes trick: the network sees a randomly *warped* face and must output the
*unwarped* one, so each decoder learns to draw its person from a distorted code rather
than copy pixels. Here every output pixel gets one source coordinate:

    target, mask : image(affine(p))               # small rotation/scale/shift/flip
    input        : image(affine(p + flow(p)))     # plus the warp
    flow         : a coarse 5x5 grid of random offsets upsampled (bicubic) to S x S

so each of input, target and mask is resampled once (bilinear, ``tf.gather``), and the
affine part is identical for all three. Colour jitter (brightness, contrast, saturation,
hue) touches the input only, as one per-image 3x3 colour matrix. Randomness is
stateless: the same ``seed`` gives the same batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; the defaults follow the original DeepFakes code."""

    warp_scale: float = 0.025  # std of the coarse warp offsets, as a fraction of the face size
    grid: int = 5  # the coarse warp grid is grid x grid nodes
    rotation_deg: float = 10.0  # rotation uniform in +- this many degrees
    zoom: float = 0.05  # scale uniform in 1 +- zoom
    shift: float = 0.05  # shift uniform in +- this fraction of the size, each axis
    flip: bool = True  # mirror half of the faces horizontally
    brightness: float = 0.05  # added to all channels, uniform in +- this
    contrast: float = 0.1  # contrast factor uniform in 1 +- this
    saturation: float = 0.1  # saturation factor uniform in 1 +- this
    hue_deg: float = 5.0  # hue rotation uniform in +- this many degrees


def bilinear_sample(images, coords):
    """Sample ``images`` (B, H, W, C) float at ``coords`` (B, h, w, 2) = (y, x) in pixels.

    Coordinates outside the image are clamped to the border. Returns (B, h, w, C).
    """
    shape = tf.shape(images)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    y = tf.clip_by_value(coords[..., 0], 0.0, tf.cast(h - 1, tf.float32))
    x = tf.clip_by_value(coords[..., 1], 0.0, tf.cast(w - 1, tf.float32))
    y0, x0 = tf.floor(y), tf.floor(x)
    wy, wx = (y - y0)[..., None], (x - x0)[..., None]  # (B, h, w, 1) in [0, 1)
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    y1, x1 = tf.minimum(y0 + 1, h - 1), tf.minimum(x0 + 1, w - 1)
    flat = tf.reshape(images, (-1, c))  # (B*H*W, C): one gather per corner
    base = (tf.range(b) * h * w)[:, None, None]

    def corner(yy, xx):
        return tf.gather(flat, base + yy * w + xx)

    top = corner(y0, x0) * (1 - wx) + corner(y0, x1) * wx
    bottom = corner(y1, x0) * (1 - wx) + corner(y1, x1) * wx
    return top * (1 - wy) + bottom * wy


def _random_affine(batch, size, seed, cfg):
    """A random similarity transform per image: matrix (B, 2, 2) and offset (B, 2), acting on
    centred (y, x) pixel coordinates; source = matrix @ p + offset."""
    s1, s2, s3, s4 = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    angle = tf.random.stateless_uniform((batch,), s1, -1.0, 1.0) * math.radians(cfg.rotation_deg)
    scale = 1.0 + tf.random.stateless_uniform((batch,), s2, -1.0, 1.0) * cfg.zoom
    shift = tf.random.stateless_uniform((batch, 2), s3, -1.0, 1.0) * cfg.shift * size
    flip = tf.where(tf.random.stateless_uniform((batch,), s4) < 0.5, -1.0, 1.0) if cfg.flip else tf.ones((batch,))
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # columns: how source (y, x) move with output y and with (possibly mirrored) output x
    matrix = tf.stack([tf.stack([cos, -sin * flip], -1), tf.stack([sin, cos * flip], -1)], -2)
    return matrix, shift + (size - 1) / 2.0


def _apply_affine(points, matrix, offset):
    """points (B, S, S, 2) centred (y, x) -> source pixel coordinates (B, S, S, 2)."""
    return tf.einsum("bij,bhwj->bhwi", matrix, points) + offset[:, None, None, :]


def _warp_flow(batch, size, seed, cfg, strength=1.0):
    """Smooth random displacement field (B, S, S, 2) in pixels: a coarse grid, upsampled."""
    coarse = tf.random.stateless_normal((batch, cfg.grid, cfg.grid, 2), seed, stddev=cfg.warp_scale * size)
    coarse = coarse * tf.cast(strength, tf.float32)
    return tf.image.resize(coarse, (size, size), method="bicubic")


def _colour_jitter(images, seed, cfg):
    """Per-image brightness, contrast, saturation and hue on (B, S, S, 3) in [0, 1]."""
    batch = tf.shape(images)[0]
    s1, s2, s3, s4 = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    bright = tf.random.stateless_uniform((batch,), s1, -1.0, 1.0) * cfg.brightness
    contrast = 1.0 + tf.random.stateless_uniform((batch,), s2, -1.0, 1.0) * cfg.contrast
    sat = 1.0 + tf.random.stateless_uniform((batch,), s3, -1.0, 1.0) * cfg.saturation
    hue = tf.random.stateless_uniform((batch,), s4, -1.0, 1.0) * math.radians(cfg.hue_deg)
    # in YIQ, saturation scales the chroma plane (I, Q) and hue rotates it
    to_yiq = tf.constant([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    zero, one = tf.zeros_like(hue), tf.ones_like(hue)
    chroma = tf.stack([tf.stack([one, zero, zero], -1),
                       tf.stack([zero, sat * tf.cos(hue), -sat * tf.sin(hue)], -1),
                       tf.stack([zero, sat * tf.sin(hue), sat * tf.cos(hue)], -1)], -2)  # (B, 3, 3)
    matrix = tf.linalg.inv(to_yiq)[None] @ chroma @ to_yiq[None] * contrast[:, None, None]
    mean = tf.reduce_mean(images, axis=(1, 2), keepdims=True)  # contrast pivots on the image mean
    out = tf.einsum("bij,bhwj->bhwi", matrix, images - mean) + mean + bright[:, None, None, None]
    return tf.clip_by_value(out, 0.0, 1.0)


def augment_batch(images, masks, seed, cfg: AugmentConfig = AugmentConfig(), warp_strength=1.0):
    """Warp + affine + colour jitter on a batch.

    ``warp_strength``: a multiplier of ``cfg.warp_scale``, a float or a scalar
    ``tf.Variable`` read on every batch (training lowers it towards the end of a
    run: the warp teaches the decoder to draw the person from a rough code, a
    weaker warp late lets it spend its capacity on detail).

    images: (B, S, S, 3) uint8 in [0, 255] or float in [0, 1]; masks: (B, S, S, 2) uint8
    in {0, 255} or float in [0, 1]; seed: int tensor of shape (2,).
    Returns (warped, target, mask), float32: the network input (B, S, S, 3) in [0, 1],
    the face it must produce (B, S, S, 3) in [0, 1], and its mask (B, S, S, 2) in [0, 1].
    """
    images = tf.image.convert_image_dtype(images, tf.float32)  # uint8 /255, floats unchanged
    masks = tf.image.convert_image_dtype(masks, tf.float32)
    size = images.shape[1] or tf.shape(images)[1]
    batch = tf.shape(images)[0]
    seed = tf.cast(seed, tf.int64)
    s_affine, s_warp, s_colour = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    matrix, offset = _random_affine(batch, size, s_affine, cfg)
    r = tf.range(size, dtype=tf.float32) - (size - 1) / 2.0
    grid = tf.stack(tf.meshgrid(r, r, indexing="ij"), -1)[None]  # (1, S, S, 2) centred (y, x)
    grid = tf.tile(grid, [batch, 1, 1, 1])
    # target and mask share one gather; the warp distorts the face before the affine moves it
    both = bilinear_sample(tf.concat([images, masks], -1), _apply_affine(grid, matrix, offset))
    target, mask = both[..., :3], both[..., 3:]
    flow = _warp_flow(batch, size, s_warp, cfg, warp_strength)
    warped = bilinear_sample(images, _apply_affine(grid + flow, matrix, offset))
    return _colour_jitter(warped, s_colour, cfg), target, mask


def warp_inputs(images, seed, cfg: AugmentConfig = AugmentConfig(), warp_strength=1.0):
    """The autoencoder's input augmentation without its affine part: (B, S, S, 3) uint8 or float -> (B, S, S, 3) float32
    in [0, 1], each face warped and colour-jittered where it stands (its target's geometry). The detail stage gives
    the decoder these, so its training inputs are faces drawn from a code the decoder was not given, as in a swap."""
    images = tf.image.convert_image_dtype(images, tf.float32)
    size = images.shape[1] or tf.shape(images)[1]
    batch = tf.shape(images)[0]
    s_warp, s_colour = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2))
    r = tf.range(size, dtype=tf.float32)
    grid = tf.tile(tf.stack(tf.meshgrid(r, r, indexing="ij"), -1)[None], [batch, 1, 1, 1])  # (B, S, S, 2) pixel (y, x)
    warped = bilinear_sample(images, grid + _warp_flow(batch, size, s_warp, cfg, warp_strength))
    return _colour_jitter(warped, s_colour, cfg)
