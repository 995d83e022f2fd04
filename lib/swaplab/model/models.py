"""Architectures by name and ``SwapModel``: one shared encoder, one decoder per person.

Training feeds warped faces of A and B through the same encoder; decoder A learns to
rebuild A, decoder B to rebuild B. To swap, encode a face of A and decode it with B's
decoder (``SwapModel.swap``).

Models (``MODELS``), training cost per face = forward + backward ~= 3x the forward
FLOPs of encoder + one decoder, counted from layer shapes by ``flops_per_face``:

==========  =====  ===========  ===================  =====================================
name        size   params       train GFLOP / face   meant for
==========  =====  ===========  ===================  =====================================
original    64     ~82 M        ~11.4                the classic DeepFakes net (GPU)
slim        64     ~6.5 M       ~0.49                a 2-core CPU (``slim_sketch``, the default: ``DEFAULT_CPU_MODEL``)
lite        64     ~17.6 M      ~1.8                 a bigger CPU, or long runs (the old default)
lite128     128    ~17.8 M      ~2.5                 long CPU runs on big faces (sharper ceiling)
hd128       128    ~71 M        ~9.6                 GPU users who want 128 px
tiny        32     ~0.6 M       ~0.07                tests and smoke runs only
==========  =====  ===========  ===================  =====================================

(exact figures: ``python benchmarks/train_speed.py`` prints them.)

"original" follows the 2017 DeepFakes code: 5x5 stride-2 convs 128-256-512-1024,
Dense 1024, Dense 4*4*1024, one pixel-shuffle upscale to 8x8x512; decoders upscale
256-128-64 and end in a 5x5 conv to RGB. Most of its cost is in 1024-channel convs on
4x4 maps and in 3x3 upscales, and its 1024-wide bottleneck is far more than a 64 px
face needs.

"lite" keeps the method and cuts the waste, choosing shapes that run near the CPU's
matmul peak: a space-to-depth stem (64x64x3 -> 32x32x12, so no conv runs on 3 input
channels at full resolution), 3x3 convs whose channel counts are multiples of 32, a
512-wide bottleneck, pixel-shuffle upscales (``tf.nn.depth_to_space``: free, no
transposed convs) and an output conv to 12 channels at 32x32 shuffled to 64x64x3.
No depthwise convs or tiny layers: on the CPU those run at a small fraction of peak.

"slim" is lite at half the width, with the same 512-wide bottleneck. Early in a run the net
is far from its capacity, and what limits a 30-minute CPU run is how many updates it gets: at
equal CPU minutes slim makes ~2.9x lite's steps and, at twice lite's learning rate, leaves the
soft "mean face" sooner (self-swap SSIM 0.876 against 0.838 after 12 core-minutes;
docs/ablation.md). lite has more room for long runs.

"slim_sketch" (the CPU default), "lite_sketch", "lite128_sketch", "hd128_sketch" (and "tiny_sketch" for tests) are those nets whose decoders also read the face's
**sketch** (``swaplab.face.sketch``: lips, lids and irises as lines and openings, from the landmarks a swap has
anyway), stacked by space-to-depth onto every decoder scale. The classic decoder draws a mouth only as open as its
code and its face set say: when A opens the mouth wider than B ever did, B's decoder draws it half closed
(docs/novel.md). A sketched decoder draws B's lips where A's are. It costs ~15 % of the steps per CPU minute.

"lite128" is lite's body at 128 px in and out. A 64 px face pasted into a video where the
face's crop spans ~180 px (GRID at 360x288; more at 480p and up) is stretched ~3x and looks
soft whatever the training; at 128 px it is stretched ~1.4x. The extra pixels are cheap
where they are added: a space-to-depth-4 stem (no conv at full resolution) and one more
pixel-shuffle upscale at 32 channels, +34 % FLOPs for 4x the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import keras
import numpy as np
import tensorflow as tf

from swaplab.face import sketch as drawing
from swaplab.face.sketch import CHANNELS as SKETCH_CHANNELS  # lines, openings

LEAK = 0.1  # LeakyReLU slope of the original DeepFakes code
SKETCH_DROP = 0.1  # share of a sketched model's training faces shown no sketch, so it still draws without landmarks


@dataclass(frozen=True)
class ModelSpec:
    """Shape of one architecture; ``build_swap_model`` turns it into layers."""

    image_size: int  # default face size in pixels (the input is square RGB)
    stem: str  # "conv5": 5x5 stride-2 conv on RGB; "s2d"/"s2d4": space-to-depth 2 or 4, then a 3x3 conv
    stem_filters: int  # channels after the stem (at size / 2)
    enc_filters: tuple[int, ...]  # stride-2 convs after the stem, each halves the size
    enc_kernel: int  # kernel of those convs
    dense: int  # width of the bottleneck Dense layer
    latent_hw: int  # the bottleneck is reshaped to latent_hw x latent_hw x latent_ch
    latent_ch: int
    latent_up: int  # channels after the encoder's pixel-shuffle upscale (2x latent_hw)
    dec_filters: tuple[int, ...]  # decoder pixel-shuffle upscales, each doubles the size
    out: str  # "conv5": 5x5 conv to RGB at full size; "d2s": 3x3 conv to 12 ch + shuffle
    learning_rate: float = 5e-4  # Adam peak that trains it stably with gradient clipping (03_train's LEARNING_RATE=None)
    sketch: bool = False  # decoders also read the face's sketch (``swaplab.face.sketch``: lips, lids, irises) at each scale


MODELS: dict[str, ModelSpec] = {
    "original": ModelSpec(64, "conv5", 128, (256, 512, 1024), 5, 1024, 4, 1024, 512, (256, 128, 64), "conv5"),
    # lite at half the width (same 512-wide bottleneck): 3.7x fewer FLOPs, ~2.9x the steps per CPU minute,
    # and it takes twice lite's learning rate; the CPU default (docs/ablation.md, "the slim rows")
    "slim": ModelSpec(64, "s2d", 32, (64, 128, 256), 3, 512, 4, 256, 128, (64, 32), "d2s", learning_rate=1e-3),
    "lite": ModelSpec(64, "s2d", 64, (128, 256, 512), 3, 512, 4, 512, 256, (128, 64), "d2s"),
    # lite's body at 128 px in and out: a space-to-depth-4 stem (128 -> 32x32x48) and one more cheap
    # decoder upscale (32 ch at 64x64); +40 % FLOPs for 4x the pixels, so the face is not stretched 2-3x
    "lite128": ModelSpec(128, "s2d4", 64, (128, 256, 512), 3, 512, 4, 512, 256, (128, 64, 32), "d2s"),
    "hd128": ModelSpec(128, "s2d", 64, (128, 256, 512, 1024), 3, 1024, 4, 1024, 512, (256, 128, 64), "d2s"),
    # 32 px and ~0.6 M params: for tests and smoke runs of the notebooks, not for real swaps
    "tiny": ModelSpec(32, "s2d", 32, (64, 128), 3, 64, 4, 64, 64, (32,), "d2s"),
}
# the same nets whose decoders also draw along the input face's lips, lids and irises (``ModelSpec.sketch``)
MODELS.update({f"{name}_sketch": replace(MODELS[name], sketch=True) for name in ("slim", "lite", "lite128", "hd128", "tiny")})


# slim chosen by benchmarks/quality_curve.py at equal CPU minutes (docs/ablation.md); its decoders draw along the
# input's sketch since the novel-expression and head-pose benchmarks (docs/novel.md: the mouth opens and follows)
DEFAULT_CPU_MODEL = "slim_sketch"


def _conv(filters, kernel, strides=1, dtype=None, name=None):
    return keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", dtype=dtype, name=name)


def _upscale(x, filters, dtype, name):
    """3x3 conv to 4*filters, LeakyReLU, pixel shuffle: (B, h, w, c) -> (B, 2h, 2w, filters)."""
    x = _conv(filters * 4, 3, dtype=dtype, name=f"{name}_conv")(x)
    x = keras.layers.LeakyReLU(LEAK, dtype=dtype, name=f"{name}_act")(x)
    return keras.layers.Lambda(lambda t: tf.nn.depth_to_space(t, 2), dtype=dtype, name=f"{name}_shuffle")(x)


def _encoder(spec: ModelSpec, size: int, dtype) -> keras.Model:
    inp = keras.Input((size, size, 3), name="face")  # (B, S, S, 3) float32 in [0, 1]
    if spec.stem.startswith("s2d"):
        block = 4 if spec.stem == "s2d4" else 2
        x = keras.layers.Lambda(lambda t: tf.nn.space_to_depth(t, block), dtype=dtype, name="stem_s2d")(inp)
        x = _conv(spec.stem_filters, 3, dtype=dtype, name="stem_conv")(x)
    else:
        x = _conv(spec.stem_filters, 5, 2, dtype=dtype, name="stem_conv")(inp)
    x = keras.layers.LeakyReLU(LEAK, dtype=dtype, name="stem_act")(x)  # (B, S/2 or S/4, ..., stem_filters)
    for i, f in enumerate(spec.enc_filters):
        x = _conv(f, spec.enc_kernel, 2, dtype=dtype, name=f"down{i}_conv")(x)
        x = keras.layers.LeakyReLU(LEAK, dtype=dtype, name=f"down{i}_act")(x)
    x = keras.layers.Flatten(dtype=dtype)(x)
    x = keras.layers.Dense(spec.dense, dtype=dtype, name="bottleneck")(x)  # the identity-free code
    x = keras.layers.Dense(spec.latent_hw**2 * spec.latent_ch, dtype=dtype, name="expand")(x)
    x = keras.layers.Reshape((spec.latent_hw, spec.latent_hw, spec.latent_ch), dtype=dtype)(x)
    x = _upscale(x, spec.latent_up, dtype, "up")  # (B, 2*latent_hw, 2*latent_hw, latent_up)
    return keras.Model(inp, x, name="encoder")


def _stack_sketch(x, sketch, size: int, dtype, name: str):
    """``x`` (B, h, w, c) with the sketch (B, S, S, 2) moved to h x w by space-to-depth appended: every line at full
    resolution, stacked in channels (no blur), so the layer after it can draw exactly along it."""
    if sketch is None:
        return x
    block = size // int(x.shape[1])
    s = sketch if block == 1 else keras.layers.Lambda(lambda t, b=block: tf.nn.space_to_depth(t, b), dtype=dtype,
                                                       name=f"{name}_sketch")(sketch)
    return keras.layers.Concatenate(dtype=dtype, name=f"{name}_with_sketch")([x, s])


def _decoder(spec: ModelSpec, size: int, dtype, name: str) -> keras.Model:
    hw = spec.latent_hw * 2
    inp = keras.Input((hw, hw, spec.latent_up), name="code")
    sketch = keras.Input((size, size, SKETCH_CHANNELS), name="sketch") if spec.sketch else None
    x = inp
    for i, f in enumerate(spec.dec_filters):
        x = _upscale(_stack_sketch(x, sketch, size, dtype, f"up{i}"), f, dtype, f"up{i}")
    x = _stack_sketch(x, sketch, size, dtype, "out")
    if spec.out == "d2s":  # (B, S/2, S/2, 12) -> (B, S, S, 3)
        x = _conv(12, 3, dtype=dtype, name="out_conv")(x)
        x = keras.layers.Lambda(lambda t: tf.nn.depth_to_space(t, 2), dtype=dtype, name="out_shuffle")(x)
    else:
        x = _conv(3, 5, dtype=dtype, name="out_conv")(x)
    # sigmoid in float32 even under mixed precision: the loss and the output stay full precision
    out = keras.layers.Activation("sigmoid", dtype="float32", name="rgb")(x)
    if out.shape[1] != size:
        raise ValueError(f"decoder output is {out.shape[1]} px, expected {size}: check ModelSpec")
    return keras.Model([inp, sketch] if spec.sketch else inp, out, name=name)


class SwapModel(keras.Model):
    """Shared ``encoder`` + ``decoder_a`` + ``decoder_b``; ``train_step`` trains both sides.

    Training data is a dict of batches (see ``swaplab.train.loop.make_training_dataset``):
    ``warped_a``, ``target_a``, ``mask_a`` and the same for ``b``; faces (B, S, S, 3)
    float32 in [0, 1], masks (B, S, S, 2) float32 in {0, 1} (face hull, eyes + mouth).

    A model whose decoders read the face's sketch (``ModelSpec.sketch``: ``sketched``) also takes ``sketch_a`` and
    ``sketch_b`` (B, S, S, 2) in [0, 1], the target face's lips, lids and irises (``swaplab.face.sketch``); to swap,
    the sketch is the input face's, so B's decoder draws B's mouth as open as A's, where A's lips are.
    """

    def __init__(self, encoder, decoder_a, decoder_b, model_name: str, image_size: int, loss_fn=None, **kw):
        super().__init__(**kw)
        from swaplab.model.losses import face_loss

        self.encoder, self.decoder_a, self.decoder_b = encoder, decoder_a, decoder_b
        self.model_name = model_name
        self.image_size = image_size
        self.loss_fn = loss_fn or face_loss  # (target, pred, mask) -> scalar
        self.loss_a_tracker = keras.metrics.Mean(name="loss_a")
        self.loss_b_tracker = keras.metrics.Mean(name="loss_b")
        self.sketched = len(decoder_a.inputs) == 2
        spec = tf.TensorSpec((None, image_size, image_size, 3), tf.float32)
        sketch_spec = tf.TensorSpec((None, image_size, image_size, SKETCH_CHANNELS), tf.float32)
        # one trace per side for any batch size: inference never retraces
        self._swap_fns = {
            side: tf.function(lambda x, s, d=dec: self._decode(d, self.encoder(x, training=False), s, False),
                              input_signature=[spec, sketch_spec], reduce_retracing=True, autograph=False)
            for side, dec in (("a", decoder_a), ("b", decoder_b))
        }

    @property
    def metrics(self):
        return [self.loss_a_tracker, self.loss_b_tracker]

    def _decode(self, decoder, z, sketch, training):
        """``decoder``'s faces of the codes ``z``; a sketched model reads ``sketch`` (B, S, S, 2), others ignore it."""
        return decoder([z, sketch], training=training) if self.sketched else decoder(z, training=training)

    def call(self, faces, training=False):
        """Reconstruct ``faces`` with both decoders: (B, S, S, 3) -> two (B, S, S, 3) (a sketched model draws them
        without a sketch, as it learned to for ``SKETCH_DROP`` of its faces)."""
        z = self.encoder(faces, training=training)
        sketch = tf.zeros(tf.concat([tf.shape(faces)[:3], [SKETCH_CHANNELS]], 0), faces.dtype) if self.sketched else None
        return self._decode(self.decoder_a, z, sketch, training), self._decode(self.decoder_b, z, sketch, training)

    def _side_losses(self, data, training):
        if self.sketched and not {"sketch_a", "sketch_b"} <= set(data):
            raise ValueError(f"MODEL={self.model_name!r} draws along the faces' sketches, but the batches carry none: give "
                             "masks with the sketch's two channels (faceset.load_training_arrays(..., sketch=True))")
        n = tf.shape(data["warped_a"])[0]
        # one encoder call on A and B together: a batch twice as big runs nearer peak
        z = self.encoder(tf.concat([data["warped_a"], data["warped_b"]], 0), training=training)
        pred_a = self._decode(self.decoder_a, z[:n], data.get("sketch_a"), training)
        pred_b = self._decode(self.decoder_b, z[n:], data.get("sketch_b"), training)
        loss_a = self.loss_fn(data["target_a"], pred_a, data["mask_a"])
        loss_b = self.loss_fn(data["target_b"], pred_b, data["mask_b"])
        return loss_a, loss_b

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras (TensorFlow backend) averages a first batch over the replicas to build an unbuilt model
        before ``fit``; under MultiWorkerMirroredStrategy that average fails on a dict of batches. A
        model from ``build_swap_model`` is built, so once its optimizer is built there is nothing to do."""
        if self.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss_a, loss_b = self._side_losses(data, training=True)
            # gradients are summed over replicas, so each replica contributes 1/n of the mean
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            loss = (loss_a + loss_b) / replicas
            scaled = self.optimizer.scale_loss(loss)  # loss scaling under mixed_float16, else identity
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_a_tracker.update_state(loss_a)
        self.loss_b_tracker.update_state(loss_b)
        return self._step_logs()

    def _step_logs(self) -> dict:
        """The trackers' means. With several workers, Keras averages a step's results with
        ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalars (tensorflow/tensorflow#72388):
        there each mean goes out as a vector of one, and the average comes back a scalar."""
        logs = {m.name: m.result() for m in self.metrics}
        strategy = tf.distribute.get_strategy()
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode():
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def test_step(self, data):
        loss_a, loss_b = self._side_losses(data, training=False)
        self.loss_a_tracker.update_state(loss_a)
        self.loss_b_tracker.update_state(loss_b)
        return self._step_logs()

    def reconstruct(self, faces, side: str, batch_size: int = 256, landmarks=None, sketch=None) -> np.ndarray:
        """Encode ``faces`` and decode with ``side``'s decoder ("a" or "b").

        faces: (B, S, S, 3) float32 in [0, 1] (uint8 in [0, 255] is converted);
        returns (B, S, S, 3) float32 in [0, 1]. ``landmarks``: (B, 478, 2) of the faces in the crop at S px, which
        a sketched model draws along (``sketch.for_decoder``), or the drawn ``sketch`` itself ((B, S, S, 2), uint8 or
        [0, 1]); without either it draws from the code alone. Models without a sketch ignore both.
        """
        if side not in self._swap_fns:
            raise ValueError(f"side={side!r}: use 'a' or 'b'")
        faces = as_unit_float(faces)
        s = self.image_size
        if faces.ndim != 4 or faces.shape[1:] != (s, s, 3):
            raise ValueError(f"faces have shape {faces.shape}: expected (B, {s}, {s}, 3) aligned crops")
        for given, what in ((landmarks, "landmark sets"), (sketch, "sketches")):
            if given is not None and len(given) != len(faces):
                raise ValueError(f"{len(given)} {what} for {len(faces)} faces: give one a face")
        fn = self._swap_fns[side]
        out = []
        for i in range(0, len(faces), batch_size):
            chunk = faces[i:i + batch_size]
            sketches = self._sketches(chunk, landmarks, sketch, i, batch_size)
            out.append(fn(tf.constant(chunk, tf.float32), tf.constant(sketches)).numpy())
        return np.concatenate(out) if out else np.zeros((0, s, s, 3), np.float32)

    def _sketches(self, chunk, landmarks, sketch, i: int, n: int) -> np.ndarray:
        """(B, S, S, 2) float32 in [0, 1]: the chunk's sketches for a sketched model (zeros without landmarks); for a
        plain model, which ignores them, an empty batch (nothing drawn or copied per call)."""
        if not self.sketched:
            return np.zeros((0, *chunk.shape[1:3], SKETCH_CHANNELS), np.float32)
        if sketch is not None:
            return as_unit_float(sketch[i:i + n])
        if landmarks is not None:
            return drawing.for_decoder(landmarks[i:i + n], self.image_size).astype(np.float32) / 255.0
        return np.zeros((*chunk.shape[:3], SKETCH_CHANNELS), np.float32)

    def swap(self, faces, to: str = "b", batch_size: int = 256, landmarks=None, sketch=None) -> np.ndarray:
        """The face swap: faces of one person decoded as person ``to`` (same shapes as ``reconstruct``; a sketched
        model draws ``to``'s features along the input's ``landmarks``)."""
        return self.reconstruct(faces, to, batch_size, landmarks, sketch)


def as_unit_float(faces) -> np.ndarray:
    """Face crops as float32 in [0, 1]: uint8 in [0, 255] is scaled, floats are taken as they are."""
    faces = np.asarray(faces)
    return faces.astype(np.float32) / 255.0 if faces.dtype == np.uint8 else faces.astype(np.float32)


def build_swap_model(name: str = "lite", size: int | None = None, dtype=None) -> SwapModel:
    """Build the named architecture (``MODELS``) at ``size`` px (default: the model's own).

    ``dtype`` is a Keras dtype policy name ("mixed_float16" on GPUs); None = float32.
    """
    if name not in MODELS:
        raise ValueError(f"MODEL={name!r} is unknown: choose one of {sorted(MODELS)}")
    spec = MODELS[name]
    size = size or spec.image_size
    if size != spec.image_size:  # the encoder's Dense and the decoder's upscales fix the size
        raise ValueError(f"MODEL={name!r} works on {spec.image_size} px faces, not {size}: "
                         f"use {spec.image_size} or another MODEL ({ {k: v.image_size for k, v in MODELS.items()} })")
    model = SwapModel(_encoder(spec, size, dtype), _decoder(spec, size, dtype, "decoder_a"),
                      _decoder(spec, size, dtype, "decoder_b"), model_name=name, image_size=size, dtype=dtype)
    model(tf.zeros((1, size, size, 3)))  # create the variables now, so weights can be loaded at once
    return model


def param_count(model: SwapModel) -> int:
    """Trainable + non-trainable parameters of encoder and both decoders."""
    return int(sum(np.prod(w.shape) for w in model.weights))


def _forward_flops(sub: keras.Model) -> int:
    """Multiply-adds x 2 of every Conv2D and Dense layer of a functional model, per sample."""
    total = 0
    for layer in sub.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            total += 2 * h * w * kh * kw * c_in * c_out
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
    return total


def flops_per_face(model: SwapModel) -> int:
    """Training FLOPs per face: 3 x forward (encoder + one decoder).

    Backward costs two forwards (gradient wrt inputs and wrt weights); elementwise ops,
    the loss and the optimizer update are not counted, so achieved GFLOP/s computed
    with this figure is the useful work rate.
    """
    return 3 * (_forward_flops(model.encoder) + _forward_flops(model.decoder_a))
