"""The detail stage's training pairs (``swaplab.model.detail``): what each net learns from, and the preview of it.

Each face of a person's face set at the detail size is a target; the net's input is the decoder's own
reconstruction of it (``PAIRS="reconstructions"``), or the face shrunk and blurred as a decoder would
(``"degraded"``), or both; beside it, the face's exemplar detail from the person's OTHER clips
(``exemplars.ExemplarBank.neighbours_of_each``), warped per region for a warping net, and the sketch of its
landmarks for a net that reads one (``swaplab.face.sketch``). ``make_dataset`` serves them as endless batches
of random windows around the inner face.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from swaplab.face import align
from swaplab.model.detail import FINE_SCALE, PAIRS, DetailModel, DetailSpec, _with_sketch, spec_for
from swaplab.model.models import as_unit_float

PATCH = 0.625  # training windows: this share of the face's side, around the inner face (5/8: 40 of 64 px)


def degrade(faces, in_size: int, seed, blur_max: float = 1.2, noise: float = 0.01):
    """What a decoder makes of real faces, roughly: (B, S, S, 3) float32 -> (B, in_size, in_size, 3) float32.

    Area-shrunk to the decoder's size, blurred with a random sigma in [0.05, ``blur_max``] px of that
    size (a decoder's softness varies with how well it knows the face), plus a little noise.
    """
    small = tf.image.resize(faces, (in_size, in_size), method="area")
    sigma = tf.random.stateless_uniform((tf.shape(faces)[0], 1, 1, 1), seed, 0.05, blur_max)
    r = tf.range(-3.0, 4.0)
    k = tf.exp(-(r[None, :] ** 2) / (2.0 * tf.reshape(sigma, (-1, 1)) ** 2))  # (B, 7)
    k = k / tf.reduce_sum(k, axis=1, keepdims=True)
    # a separable blur per image: pad, then a weighted sum of 7 shifted copies along each axis
    padded = tf.pad(small, [[0, 0], [3, 3], [3, 3], [0, 0]], mode="SYMMETRIC")
    rows = sum(k[:, i, None, None, None] * padded[:, i:i + in_size, :, :] for i in range(7))
    blurred = sum(k[:, i, None, None, None] * rows[:, :, i:i + in_size, :] for i in range(7))
    grain = tf.random.stateless_normal(tf.shape(blurred), seed + 1, stddev=noise)
    return tf.clip_by_value(blurred + grain, 0.0, 1.0)




def make_dataset(sides: dict, batch_size: int, seed: int, pairs: str, in_size: int, start: int = 0,
                 patch: float = PATCH) -> tf.data.Dataset:
    """Endless dict batches for ``DetailModel.train_step`` from in-memory arrays.

    sides: {"a": (recon, fine, images, masks), "b": ...}: recon (N, s, s, 3) float32 (the decoder's own
    reconstructions; None for ``pairs="degraded"``), fine (N, S, S, 3) int8 the faces' exemplar detail
    times ``FINE_SCALE`` (None: none), images (N, S, S, 3) uint8 and masks (N, S, S, 2) uint8 at the detail
    size. Each batch is flipped at random (all of them together) and cut to a window of ``patch`` of the
    face's side at a random place around the inner face (``_window``): the brows, eyes, nose and mouth,
    where a person looks and the detail is, get all the compute.
    """
    if pairs not in PAIRS:
        raise ValueError(f"DETAIL_PAIRS={pairs!r}: choose one of {PAIRS}")

    def side(recon, fine, images, masks, offset):
        n = len(images)
        if n < batch_size:
            raise ValueError(f"{n} faces: the detail stage trains on batches of {batch_size}: collect more faces, "
                             "or set DETAIL_SIZE=0 for no detail stage")
        recon = np.zeros((n, 1, 1, 3), np.float32) if recon is None else recon  # unused with "degraded"
        fine = np.zeros((n, 1, 1, 3), np.int8) if fine is None else fine  # broadcast: no exemplar detail
        # the faces go into TensorFlow once, as variables on the CPU that each batch gathers from; a dataset of the
        # arrays themselves held two copies, its own and the shuffle buffer's (800 faces a side at 256 px: +1.0
        # GB now, +1.8 GB before, measured; the order of the faces is the same)
        with tf.device("/CPU:0"):
            arrays = [tf.Variable(a, trainable=False) for a in (recon, fine, images, masks)]
        ds = tf.data.Dataset.range(n).shuffle(n, seed=seed + offset + start, reshuffle_each_iteration=True).repeat()
        ds = tf.data.Dataset.zip(ds.batch(batch_size, drop_remainder=True), tf.data.Dataset.counter(start))

        def pair(idx, i):
            return _pair(*(tf.gather(a, idx) for a in arrays), tf.stack([tf.cast(seed + offset, tf.int64), i]), pairs,
                         in_size, patch)

        return ds.map(pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    ds = tf.data.Dataset.zip(side(*sides["a"], 0), side(*sides["b"], 7))
    keys = ("in", "fine", "target", "mask")
    ds = ds.map(lambda a, b: {**{f"{k}_a": v for k, v in zip(keys, a)}, **{f"{k}_b": v for k, v in zip(keys, b)}})
    return ds.prefetch(tf.data.AUTOTUNE)


def _pair(recon, fine, images, masks, seed, pairs: str, in_size: int, patch: float):
    target = tf.cast(images, tf.float32) / 255.0
    mask = tf.cast(masks, tf.float32) / 255.0
    fine = tf.cast(fine, tf.float32) / FINE_SCALE
    fine = tf.broadcast_to(fine, tf.concat([tf.shape(target)[:3], tf.shape(fine)[3:]], 0))
    if pairs == "degraded":
        x = degrade(target, in_size, seed)
    elif pairs in ("reconstructions", "warped", "neighbours"):
        x = recon
    else:  # both: half of each batch from each kind
        use_recon = tf.random.stateless_uniform((tf.shape(target)[0], 1, 1, 1), seed + 2) < 0.5
        x = tf.where(use_recon, recon, degrade(target, in_size, seed))
    flip = tf.random.stateless_uniform((tf.shape(target)[0], 1, 1, 1), seed + 3) < 0.5
    x, fine, target, mask = (tf.where(flip, tf.reverse(t, [2]), t) for t in (x, fine, target, mask))
    return _window(x, fine, target, mask, seed + 4, in_size, patch)


def _window(x, fine, target, mask, seed, in_size: int, patch: float):
    """The same random window of every face of a batch, ``patch`` of the side, always holding the inner face
    (aligned crops put it at 1/4..3/4 of the side), at the input's and the target's size."""
    if patch >= 1:
        return x, fine, target, mask
    n = int(round(patch * in_size))
    k = target.shape[1] // in_size  # the detail stage's scale
    lo, hi = in_size // 8, min(in_size // 4, in_size - n)  # offsets that keep 1/4..3/4 inside the window
    oy, ox = (tf.random.stateless_uniform((), seed + i, lo, hi + 1, dtype=tf.int32) for i in (0, 1))
    def cut(t, scale):  # tf.slice with constant sizes keeps the shapes static (the losses need them)
        return tf.slice(t, tf.stack([0, scale * oy, scale * ox, 0]), [-1, scale * n, scale * n, -1])

    return cut(x, 1), cut(fine, k), cut(target, k), cut(mask, k)


FAR_SHARE = 0.5  # share of training faces whose exemplars pass over their nearest (``region_neighbours_of_each``)


def training_sides(autoencoder, data, detail_data, pairs: str, banks: dict | None = None, spec: DetailSpec | None = None,
                   far_share: float = FAR_SHARE, seed: int = 0, inputs=None) -> dict:
    """{"a": (reconstructions or None, exemplar detail or None, images, masks), "b": ...} for ``make_dataset``.

    ``data``: ((images, masks), ...) at the model's size; ``detail_data``: the same faces, same order, at the
    detail size; ``banks``: {"a": ExemplarBank, ...} of those faces, whose exemplars for each face come from
    its other sources, or None for no exemplar detail. ``spec``: the detail nets' (None: ``spec_for``'s default,
    ``WARP``); with ``spec.warp`` each face's detail is warped per region (``exemplars.warped_detail``),
    and ``far_share`` of the faces take far exemplars (``ExemplarBank.region_neighbours_of_each``), as a swap meets.
    ``inputs``: for ``pairs="warped"``, the warp the decoder's inputs take (``_inputs``).
    """
    spec = spec if spec is not None else spec_for("", data[0][0].shape[1], detail_data[0][0].shape[1])
    warp = spec.warp
    sides = {}
    for side, small, big in zip("ab", data, detail_data):
        if len(small[0]) != len(big[0]):
            raise ValueError(f"person {side.upper()}: {len(small[0])} faces at the model's size but {len(big[0])} "
                             "at the detail size: give the same faces in the same order")
        bank = (banks or {}).get(side)
        in_size = small[0].shape[1]
        recon = None if pairs == "degraded" else autoencoder.reconstruct(_inputs(small[0], pairs, inputs, seed, bank), side,
                                                                        landmarks=_mesh_at(bank, in_size))
        fine = None if bank is None else (_warped_detail(bank, in_size, far_share, seed, spec.blend) if warp
                                          else _exemplar_detail(bank, in_size, spec.blend))
        if fine is not None and spec.sketch:
            fine = _sketched(fine, bank, in_size, seed)
        sides[side] = (recon, fine, *big[:2])
    return sides


def _mesh_at(bank, size: int):
    """(N, 478, 2) landmarks of the bank's faces at ``size`` px (what a sketched decoder draws along), or None."""
    if bank is None or bank.mesh is None:
        return None
    return align.rescale_points(bank.mesh, bank.size, size)


def _inputs(faces: np.ndarray, pairs: str, inputs, seed: int, bank=None) -> np.ndarray:
    """What the decoder reconstructs: the faces, or for half of them (in a random order) with ``pairs="warped"`` the
    face through ``inputs`` (the stage's DeepFakes warp: faces (n, s, s, 3), seed -> float32 (n, s, s, 3)), with
    ``"neighbours"`` the person's nearest face from another clip (``bank.neighbours_of_each``): the net then learns to
    draw the face its landmarks (the sketch) and exemplars say from a decoder face of a nearby expression, as a swap
    gives it (the decoder draws a novel expression as the nearest one it knows)."""
    if pairs == "neighbours":
        if bank is None:  # no bank (DETAIL_EXEMPLARS=False, or too few clips): no neighbours to take, its own faces
            return faces
        nearest, weights = bank.neighbours_of_each(1)
        chosen = np.random.default_rng(seed).permutation(len(faces))[: len(faces) // 2]
        chosen = chosen[weights[chosen, 0] > 0]  # a face with no other-clip neighbour keeps its own
        out = np.array(faces)
        out[chosen] = faces[nearest[chosen, 0]]
        return out
    if pairs != "warped":
        return faces
    if inputs is None:
        raise ValueError("DETAIL_PAIRS='warped' needs the training stage's warp (train.augment.warp_inputs)")
    out = np.asarray(faces, np.float32) / (255.0 if faces.dtype == np.uint8 else 1.0)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(faces))[: len(faces) // 2])
    for i in range(0, len(chosen), 256):
        rows = chosen[i:i + 256]
        out[rows] = np.asarray(inputs(faces[rows], seed + i))
    return out


def _sketched(fine: np.ndarray, bank, in_size: int, seed: int) -> np.ndarray:
    """``fine`` (N, S, S, C) int8 with each face's sketch appended (``sketch.draw`` of its landmarks, moved a little at
    random by ``sketch.jitter``, as a swap's are to the decoder's face), times ``FINE_SCALE``."""
    from swaplab.face import sketch

    if bank.mesh is None:
        raise ValueError("this exemplar bank has no face mesh (saved before sketches): train this RUN's detail stage "
                         "from the face sets, which hold it")
    rng = np.random.default_rng(seed)
    c = fine.shape[-1]
    out = np.empty((*fine.shape[:3], c + sketch.CHANNELS), np.int8)
    out[..., :c] = fine
    for i in range(len(bank)):
        lines = sketch.draw(sketch.jitter(bank.mesh[i], bank.size, in_size, rng), bank.size)
        out[i, ..., c:] = np.rint(lines * FINE_SCALE).astype(np.int8)
    return out


def _exemplar_detail(bank, in_size: int, k: int) -> np.ndarray:
    """(N, S, S, 3) int8: each face's exemplar detail (``k`` exemplars from its other sources) times ``FINE_SCALE``."""
    idx, weights = bank.neighbours_of_each(k)
    out = np.empty((len(bank), bank.size, bank.size, 3), np.int8)
    for i in range(len(bank)):
        out[i] = np.clip(np.rint(bank.detail(idx[i], weights[i], in_size) * FINE_SCALE), -127, 127)
    return out


def _warped_detail(bank, in_size: int, far_share: float, seed: int, k: int) -> np.ndarray:
    """(N, S, S, 4) int8: each face's warped exemplar detail and confidence (exemplars from its other sources, far for
    ``far_share`` of them) times ``FINE_SCALE``."""
    choices = bank.region_neighbours_of_each(k, far_share=far_share, seed=seed)
    out = np.empty((len(bank), bank.size, bank.size, 4), np.int8)
    for i in range(len(bank)):
        out[i] = np.clip(np.rint(bank.warped_detail(bank.mesh[i], choices[i], in_size) * FINE_SCALE), -127, 127)
    return out


def preview_fines(banks: dict, picks: list, in_size: int, spec: DetailSpec | None = None) -> list:
    """[exemplar detail of A's faces drawn as B, of B's faces drawn as B] for the preview grid: picks[i] index the faces
    of person i in their bank; B's own faces take their exemplars from their other sources, as in training."""
    bank_a, bank_b = banks["a"], banks["b"]
    spec = spec if spec is not None else spec_for("", in_size, bank_b.size)
    warp, k = spec.warp, spec.blend
    out = []
    for bank, pick in ((bank_a, picks[0]), (bank_b, picks[1])):
        rows = []
        for i in pick:
            own = bank is bank_b  # B's own faces (or, pretraining, the pool's): exemplars from elsewhere, as in training
            allowed = bank_b.others(i) if own else None
            if warp:
                rows.append(bank_b.warped_detail(bank.mesh[i], bank_b.region_neighbours(bank.mesh[i], k, allowed=allowed), in_size))
            else:
                idx, w = bank_b.neighbours(bank_b.query(bank.points[i]), k, allowed=allowed)
                rows.append(bank_b.detail(idx, w, in_size))
        fine = np.stack(rows)
        out.append(_with_sketch(fine, bank.mesh[list(pick)]) if spec.sketch else fine)
    return out


def preview_grid(autoencoder, net: DetailModel, faces, big, fines=(None, None), sketches=(None, None)) -> np.ndarray:
    """Rows of faces at the detail size; columns A, A->B, A->B + detail | B, B->B, B->B + detail.

    faces: [faces_a, faces_b] at the model's size (n each), big: the same faces at the detail size, fines: their
    exemplar detail from B's bank (``preview_fines``) or None; ``sketches``: the faces' sketches at the model's size, for a
    sketched autoencoder (``models.ModelSpec.sketch``), or None. The autoencoder's faces are upscaled bicubic, as they
    would be pasted without a detail stage. Returns (n * size, 6 * size, 3) uint8.
    """
    import cv2

    size = net.size

    def up(x):
        return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC) for f in x])

    cols = []
    for small, real, fine, sketch in zip(faces, big, fines, sketches):
        drawn = autoencoder.swap(small, to="b", sketch=sketch)  # A->B, then B->B: both drawn by B's decoder
        cols += [as_unit_float(real), up(drawn), net.enhance(drawn, "b", fine)]
    grid = np.concatenate(list(np.concatenate(cols, axis=2)), axis=0)
    return (np.clip(grid, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
