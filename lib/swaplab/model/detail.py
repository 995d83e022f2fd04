"""The per-person detail stage, the cascade's second half: the decoder's face -> that person's face at 128-256 px.

The autoencoder says whose face, which pose and which expression, at its own small size
(64 px on a CPU). It cannot afford the person's fine detail: a perfect 64 px model
stretched onto a GRID face already loses a third of the finest band (``metrics``), and
the trained decoder is softer still. The detail stage draws that detail back:

- **One small network per person** (``build_detail_net``): fully convolutional, it reads
  the decoder's face (B, s, s, 3) and the person's **exemplar detail** (B, S, S, 3): the fine
  detail of their own face-set crops nearest in expression and pose (``swaplab.model.exemplars``),
  never a pixel of the input frame, so A's detail cannot leak into an a2b swap. It draws
  the face at ``size`` S = 2 or 4 times s as the bicubic upscale plus the exemplar detail
  plus a learned correction (a pixel shuffle: no transposed convs; its last layer starts at
  zero, so an untrained net already gives the upscale with the exemplars' detail). Its body
  runs at the decoder's size.
- **Learned from the person's own face set**, at the 256 px 02_align saves and the
  autoencoder never sees at full size. Its input is what it will be given: the decoder's
  own reconstructions of those faces (``PAIRS="reconstructions"``; ``"warped"``: half of them reconstructed
  from warped inputs, so the decoder's face is as soft as for a face it never saw), or the faces shrunk
  and blurred as a decoder would (``"degraded"``: needs no decoder, so it can train
  before or beside one), or both. No warping: input and target are the same face.
- **Trained after the autoencoder, in the same run and the same time budget**
  (``train.train`` calls ``fit``): ``DETAIL_SHARE`` of TIME_BUDGET_MIN, up to
  ``DETAIL_STEPS``. Its weights and optimizer are ``detail.weights.h5`` beside the
  autoencoder's checkpoint, so a run resumes, INIT_FROMs and exports them with it.
- **Used by 04_swap** through ``Cascade``: the autoencoder's swap, the target person's
  exemplars found by the frame's landmarks (blended steadily per face track), then their
  detail net; the face is then pasted from ``size`` px instead of the model's.

Loss (``detail_loss``): masked L1 on the face (eyes and mouth weighted up) plus L1 between the
image gradients, at ``size``: it pays for every edge drawn in the right place. No GAN: the
measure that judges it (``metrics.band_detail``) is a correlation with the real frame, which
an average over the plausible faces maximises and invented texture lowers.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from swaplab.model.losses import masked_mae
from swaplab.model.models import LEAK, as_unit_float

PAIRS = ("reconstructions", "degraded", "both", "warped", "neighbours")
SCALES = (2, 4)  # the detail stage draws at 2x or 4x the autoencoder's size
LEARNING_RATE = 1e-3  # Adam's peak (warm-up, then cosine over DETAIL_STEPS or its share of TIME_BUDGET_MIN)
WARMUP_STEPS = 50
BATCH_SIZE = 8  # faces per person per step
WARP = False  # new runs' exemplar detail: warped per region with a confidence map (docs/warp.md: not yet better, so off)
SKETCH = False  # new runs' nets read the face's drawing beside the exemplar detail (``swaplab.face.sketch``)


@dataclass(frozen=True)
class DetailSpec:
    """Shape of a detail net; ``build_detail_net`` turns it into layers."""

    in_size: int  # px of the decoder's face it reads
    size: int  # px of the face it draws (2x or 4x ``in_size``)
    width: int = 32  # channels of the body (at ``in_size``); multiples of 16 run near the CPU's peak
    blocks: int = 2  # residual blocks of two 3x3 convs (32 x 2: 14 ms a face at 256 px on one core; 48 x 3: 27 ms)
    warp: bool = False  # exemplar detail warped onto the face per region, relative to brightness (``exemplars.warped_detail``)
    confidence: bool = False  # a 4th channel beside the detail: how well the exemplars fit, per pixel
    sketch: bool = False  # 2 more: the lines and openings of the face's lips, lids and irises (``sketch.draw``)
    blend: int = 4  # exemplars blended into a face's detail (``exemplars.K`` for new runs; runs saved before it: 4)

    @property
    def channels(self) -> int:
        """Channels of the exemplar detail the net reads: RGB, the confidence map when it has one, then the sketch's."""
        from swaplab.face.sketch import CHANNELS

        return 3 + int(self.confidence) + CHANNELS * int(self.sketch)


def spec_for(model: str, in_size: int, size: int) -> DetailSpec:
    """The detail net for an autoencoder: the default shape, or a very small one for the ``tiny`` test model."""
    from swaplab.model.exemplars import K

    shape = dict(width=8, blocks=1) if model in ("tiny", "tiny_sketch") else {}
    return DetailSpec(in_size, size, **shape, warp=WARP, confidence=WARP, sketch=SKETCH, blend=K)


def _conv(filters, dtype, name, kernel=3):
    return keras.layers.Conv2D(filters, kernel, padding="same", dtype=dtype, name=name)


def build_detail_net(spec: DetailSpec, dtype=None, name: str = "detail") -> keras.Model:
    """[face (B, h, w, 3), exemplar detail (B, k*h, k*w, C)] float32 -> (B, k*h, k*w, 3) float32 in [0, 1], k = size / in_size:
    the bicubic upscale of the face + the exemplar detail + a learned correction (zero before training). With
    ``spec.warp`` the detail is relative to the local brightness and is added times (upscale + RELATIVE_EPS); with
    ``spec.confidence`` its 4th channel (the confidence map) is read by the net, never added."""
    from swaplab.model.exemplars import RELATIVE_EPS

    scale = spec.size // spec.in_size
    if scale not in SCALES or spec.size != scale * spec.in_size:
        raise ValueError(f"DETAIL_SIZE={spec.size} for a {spec.in_size} px model: use "
                         f"{' or '.join(str(s * spec.in_size) for s in SCALES)}, or 0 for no detail stage")
    face = keras.Input((None, None, 3), name="face")  # any size: it trains on windows of the face, draws whole faces
    fine = keras.Input((None, None, spec.channels), name="exemplar_detail")
    packed = keras.layers.Lambda(lambda t: tf.nn.space_to_depth(t, scale), dtype="float32", name="detail_s2d")(fine)
    x = keras.layers.Concatenate(dtype=dtype, name="inputs")([face, packed])  # (B, h, w, 3 + 3 k^2)
    x = keras.layers.LeakyReLU(LEAK, dtype=dtype, name="stem_act")(_conv(spec.width, dtype, "stem_conv")(x))
    stem = x
    for i in range(spec.blocks):
        y = keras.layers.LeakyReLU(LEAK, dtype=dtype, name=f"block{i}_act")(_conv(spec.width, dtype, f"block{i}_conv1")(x))
        x = keras.layers.Add(dtype=dtype, name=f"block{i}_add")([x, _conv(spec.width, dtype, f"block{i}_conv2")(y)])
    x = keras.layers.Add(dtype=dtype, name="body_add")([stem, _conv(spec.width, dtype, "body_conv")(x)])
    out_conv = keras.layers.Conv2D(3 * scale * scale, 3, padding="same", dtype=dtype, name="out_conv", kernel_initializer="zeros")
    residual = keras.layers.Lambda(lambda t: tf.nn.depth_to_space(tf.cast(t, tf.float32), scale), dtype="float32",
                                   name="out_shuffle")(out_conv(x))  # one output pixel block per input pixel
    up = keras.layers.Lambda(lambda t: tf.image.resize(t, tf.shape(t)[1:3] * scale, method="bicubic"), dtype="float32",
                             name="upscale")(face)
    if spec.warp:
        def add(t):
            return tf.clip_by_value(t[0] + t[1][..., :3] * (t[0] + RELATIVE_EPS) + t[2], 0.0, 1.0)
    else:
        def add(t):
            return tf.clip_by_value(t[0] + t[1][..., :3] + t[2], 0.0, 1.0)
    out = keras.layers.Lambda(add, dtype="float32", name="rgb")([up, fine, residual])
    return keras.Model([face, fine], out, name=name)


def detail_loss(target, pred, mask, eyes_mouth_weight: float = 2.0, edge_weight: float = 1.0):
    """Masked L1 + L1 of the image gradients: target, pred (B, S, S, 3) in [0, 1]; mask (B, S, S, 2) in {0, 1}."""
    from swaplab.model.losses import masked_edges

    target, pred, mask = (tf.cast(t, tf.float32) for t in (target, pred, mask))
    weight = mask[..., :1] * (1.0 + eyes_mouth_weight * mask[..., 1:2])
    return masked_mae(target, pred, weight) + edge_weight * masked_edges(target, pred, weight)


class DetailModel(keras.Model):
    """``net_a`` and ``net_b``: each person's detail net; ``train_step`` trains both on a batch of each.

    Training data (``make_dataset``) is a dict ``{"in_a", "fine_a", "target_a", "mask_a", ...}``: the decoder-sized
    faces (B, s, s, 3) float32, their exemplar detail, the real faces (B, size, size, 3) float32 and masks
    (B, size, size, 2) in {0, 1}.
    """

    def __init__(self, spec: DetailSpec, dtype=None, **kw):
        super().__init__(dtype=dtype, **kw)  # its policy too: under mixed_float16, compile wraps Adam in loss scaling
        self.spec = spec
        self.net_a = build_detail_net(spec, dtype, "detail_a")
        self.net_b = build_detail_net(spec, dtype, "detail_b")
        self.loss_a_tracker = keras.metrics.Mean(name="loss_a")
        self.loss_b_tracker = keras.metrics.Mean(name="loss_b")
        sig = [tf.TensorSpec((None, spec.in_size, spec.in_size, 3), tf.float32),
               tf.TensorSpec((None, spec.size, spec.size, spec.channels), tf.float32)]
        self._fns = {side: tf.function(lambda x, f, n=net: n([x, f], training=False), input_signature=sig, reduce_retracing=True)
                     for side, net in (("a", self.net_a), ("b", self.net_b))}

    @property
    def size(self) -> int:
        return self.spec.size

    @property
    def metrics(self):
        return [self.loss_a_tracker, self.loss_b_tracker]

    def call(self, inputs, training=False):
        return self.net_a(inputs, training=training), self.net_b(inputs, training=training)

    def _side_losses(self, data, training):
        return tuple(detail_loss(data[f"target_{s}"], net([data[f"in_{s}"], _channels(data[f"fine_{s}"], self.spec.channels)],
                                                          training=training), data[f"mask_{s}"])
                     for s, net in (("a", self.net_a), ("b", self.net_b)))

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss_a, loss_b = self._side_losses(data, training=True)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss((loss_a + loss_b) / replicas)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_a_tracker.update_state(loss_a)
        self.loss_b_tracker.update_state(loss_b)
        return {m.name: m.result() for m in self.metrics}

    def enhance(self, faces, side: str, fine=None, batch_size: int = 64) -> np.ndarray:
        """(N, s, s, 3) decoder faces (float32 in [0, 1], or uint8) -> (N, size, size, 3) float32 in [0, 1], by ``side``'s
        net; ``fine``: their exemplar detail (N, size, size, 3) float32, or None for none."""
        if side not in self._fns:
            raise ValueError(f"side={side!r}: use 'a' or 'b'")
        faces = as_unit_float(faces)
        s, size, c = self.spec.in_size, self.size, self.spec.channels
        if faces.ndim != 4 or faces.shape[1:] != (s, s, 3):
            raise ValueError(f"faces have shape {faces.shape}: expected (N, {s}, {s}, 3) decoder faces")
        if fine is None:
            fine = np.zeros((len(faces), size, size, c), np.float32)
        else:  # the range training saw (int8 / FINE_SCALE): a detail band never reaches +-0.5
            fine = np.clip(np.asarray(fine, np.float32), -127 / FINE_SCALE, 127 / FINE_SCALE)
            if fine.shape != (len(faces), size, size, c):
                raise ValueError(f"fine has shape {fine.shape}: expected ({len(faces)}, {size}, {size}, {c}), the exemplar "
                                 "detail of each face at the detail size")
        out = [self._fns[side](tf.constant(faces[i:i + batch_size]), tf.constant(fine[i:i + batch_size])).numpy()
               for i in range(0, len(faces), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, size, size, 3), np.float32)


def build_detail_model(spec: DetailSpec, dtype=None) -> DetailModel:
    model = DetailModel(spec, dtype=dtype, name="detail")
    model([tf.zeros((1, spec.in_size, spec.in_size, 3)), tf.zeros((1, spec.size, spec.size, spec.channels))])  # variables
    return model


def _channels(fine, channels: int):
    """Exemplar detail with ``channels`` channels: a confidence channel of zeros added where none was made (no
    exemplars: nothing fits), or dropped for a net that reads none."""
    have = fine.shape[-1]
    if have == channels:
        return fine
    if have > channels:
        return fine[..., :channels]
    return tf.concat([fine, tf.zeros(tf.concat([tf.shape(fine)[:3], [channels - have]], 0), fine.dtype)], -1)


FINE_SCALE = 254.0  # exemplar detail is kept as int8 in training: x * FINE_SCALE, so +-0.5 (enough: a detail band) fits


def _with_sketch(fine: np.ndarray, landmarks) -> np.ndarray:
    """(N, S, S, C) float32 exemplar detail with the sketch of each face's (478, 2) landmarks at S px appended."""
    from swaplab.face import sketch

    return np.concatenate([fine, sketch.draw_all(landmarks, fine.shape[1])], axis=-1)


class Cascade:
    """The autoencoder and, when the run has one, its detail stage and both people's exemplars: what 04_swap draws with.

    ``image_size``: px of the crops it reads (the autoencoder's); ``output_size``: px of the faces it returns (the
    detail stage's, or the autoencoder's without one). ``swap`` is THE drawing path: 04_swap (``FramePipeline``),
    its preview and the tests all call it. It takes the crops as ``align.face_crops`` makes them (as training does:
    the decoder's face, the exemplars and the paste then share one geometry, tests/test_registration.py) and their
    landmarks (at ``output_size``, in the aligned crop) to find the target's exemplars; ``tracks`` (one id per face,
    in video) keeps them steady.
    """

    def __init__(self, autoencoder, detail: DetailModel | None = None, banks: dict | None = None):
        from swaplab.model.exemplars import Blender

        self.autoencoder, self.detail, self.banks = autoencoder, detail, banks or {}
        self.blender = Blender()

    @property
    def image_size(self) -> int:
        return int(self.autoencoder.image_size)

    @property
    def output_size(self) -> int:
        return self.detail.size if self.detail is not None else self.image_size

    def swap(self, faces, to: str = "b", batch_size: int = 256, landmarks=None, tracks=None, detail: bool = True,
             timings: dict | None = None) -> np.ndarray:
        """Faces drawn as ``to``: (N, s, s, 3) crops -> (N, O, O, 3) float32 in [0, 1], O = ``output_size`` (the
        autoencoder's size with ``detail=False``: its face alone). Without landmarks (or a bank of ``to``) the detail
        net works without exemplar detail. ``timings``: a dict whose "model" and "detail" seconds this adds to."""
        import time

        t0 = time.perf_counter()
        at_input = self._at_input(landmarks)
        out = self.autoencoder.swap(faces, to=to, batch_size=batch_size, **({} if at_input is None else {"landmarks": at_input}))
        t1 = time.perf_counter()
        if self.detail is not None and detail:
            out = self.detail.enhance(out, to, self.exemplar_detail(landmarks, to, tracks))
        if timings is not None:
            timings["model"] = timings.get("model", 0.0) + t1 - t0
            timings["detail"] = timings.get("detail", 0.0) + time.perf_counter() - t1
        return out

    def _at_input(self, landmarks):
        """The faces' landmarks (at ``output_size``) at the autoencoder's size, for a sketched one to draw along; None
        for one that draws from the code alone, or without landmarks."""
        if landmarks is None or not getattr(self.autoencoder, "sketched", False):
            return None
        from swaplab.face import align

        return align.rescale_points(np.asarray(landmarks, np.float32), self.output_size, self.image_size)

    def exemplar_detail(self, landmarks, to: str, tracks=None) -> np.ndarray | None:
        """(N, S, S, C) float32: each face's exemplar detail from ``to``'s bank, or None without landmarks or a bank:
        warped per region with a confidence channel (``exemplars.warped_detail``) for a net of ``spec.warp``, else the
        whole-face blend in the exemplars' own geometry (runs trained before warping).

        Found by the face's own aligned landmarks, whoever's they are: the decoder draws ``to``'s features where the
        input's are, so the exemplars whose features sit there line up with them. (Moving a source's landmarks onto
        the target's mean face shape first, which finds the target's nearest expression instead, measured worse on
        the demo's a2b swap: pose error 2.89 against 2.41 deg, jitter 0.55 against 0.46, and a mouth of two lip lines.)"""
        bank = self.banks.get(to)
        if bank is None or landmarks is None or not len(landmarks):
            return None
        tracks = [None] * len(landmarks) if tracks is None else tracks
        spec = self.detail.spec if self.detail is not None else None
        k = spec.blend if spec is not None else 4
        if spec is not None and spec.warp:
            fine = np.stack([bank.warped_detail(lm, self.blender.region_weights(bank, lm, track, k), self.image_size)
                             for lm, track in zip(np.asarray(landmarks, np.float32), tracks)])
        else:
            fine = np.stack([bank.detail(*self.blender.weights(bank, bank.query(lm), track, k), self.image_size)
                             for lm, track in zip(landmarks, tracks)])
        return _with_sketch(fine, landmarks) if spec is not None and spec.sketch else fine

    def reconstruct(self, faces, side: str, batch_size: int = 256) -> np.ndarray:
        return self.swap(faces, side, batch_size)
