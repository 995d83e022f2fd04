"""Masked reconstruction losses: MAE + DSSIM (+ an edge term) inside the face, extra weight on eyes and mouth.

Only the face hull matters (the background is never pasted back), and the eyes and
mouth carry most of the expression and identity, so they are weighted up. MAE and
DSSIM alone reward the average of the faces a code could mean, which is soft; the
edge term (``masked_edges``: L1 between the image gradients) pays for every edge
drawn in the right place, which is what a person reads as sharp.
Masks are (B, S, S, 2) float32 in {0, 1}: channel 0 the face hull, channel 1 eyes + mouth.
"""

from __future__ import annotations

import tensorflow as tf


def masked_mae(target, pred, weight):
    """Mean absolute error weighted per pixel: (B, S, S, 3) x2, weight (B, S, S, 1) -> scalar.

    Divided by the weight's sum, so pixels with weight 0 have no influence at all.
    """
    err = tf.reduce_sum(tf.abs(target - pred) * weight)
    return err / (3.0 * tf.reduce_sum(weight) + 1e-6)


def masked_dssim(target, pred, mask):
    """Structural dissimilarity (1 - SSIM) / 2 of the masked faces: outside the mask both are 0.

    target, pred (B, S, S, 3) in [0, 1]; mask (B, S, S, 1); returns a scalar in [0, 1].
    The window is 11 px at 128 px and shrinks for smaller faces (7 px at 64).
    """
    size = target.shape[1] or 64
    window = 11 if size >= 128 else 7
    ssim = tf.image.ssim(target * mask, pred * mask, max_val=1.0, filter_size=window)
    return tf.reduce_mean(1.0 - ssim) / 2.0


def masked_edges(target, pred, weight):
    """L1 between the horizontal and vertical finite differences of ``target`` and ``pred`` under ``weight``.

    target, pred (B, S, S, 3); weight (B, S, S, 1): a difference counts where both
    of its pixels are weighted. Returns a scalar (gradients are in [-1, 1]).
    """
    loss = 0.0
    for axis in (1, 2):
        n = target.shape[axis] - 1
        d_t = tf.gather(target, tf.range(1, n + 1), axis=axis) - tf.gather(target, tf.range(n), axis=axis)
        d_p = tf.gather(pred, tf.range(1, n + 1), axis=axis) - tf.gather(pred, tf.range(n), axis=axis)
        w = tf.gather(weight, tf.range(1, n + 1), axis=axis) * tf.gather(weight, tf.range(n), axis=axis)
        loss += masked_mae(d_t, d_p, w)
    return loss / 2.0


def face_loss(target, pred, mask, mae_weight: float = 1.0, dssim_weight: float = 1.0,
              eyes_mouth_weight: float = 2.0, edge_weight: float = 0.0):
    """The training loss of one side: scalar float32.

    target, pred: (B, S, S, 3) float32 in [0, 1]; mask: (B, S, S, 2) float32 in {0, 1}.
    MAE weight per pixel = hull * (1 + eyes_mouth_weight * eyes_mouth); DSSIM on the hull;
    the edge term (``masked_edges``) with the MAE's weights.
    """
    target = tf.cast(target, tf.float32)
    pred = tf.cast(pred, tf.float32)
    mask = tf.cast(mask, tf.float32)
    hull, eyes_mouth = mask[..., :1], mask[..., 1:2]
    weight = hull * (1.0 + eyes_mouth_weight * eyes_mouth)
    loss = mae_weight * masked_mae(target, pred, weight)
    if edge_weight:
        loss += edge_weight * masked_edges(target, pred, weight)
    if dssim_weight:
        loss += dssim_weight * masked_dssim(target, pred, hull)
    return loss


def make_face_loss(mae_weight: float = 1.0, dssim_weight: float = 1.0, eyes_mouth_weight: float = 2.0,
                   edge_weight: float = 0.0):
    """``face_loss`` with fixed weights, as the ``loss_fn`` a ``SwapModel`` takes."""

    def loss_fn(target, pred, mask):
        return face_loss(target, pred, mask, mae_weight, dssim_weight, eyes_mouth_weight, edge_weight)

    return loss_fn
