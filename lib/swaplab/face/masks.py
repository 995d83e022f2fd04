"""Face masks for pasting: the landmark hull, and the hull minus hair (occlusion-aware).

"hull": the convex hull of the 478 landmarks, eroded and feathered (``blend.face_mask``).
"hull-hair": the same hull with the hair taken out, so a fringe or a strand
across the forehead or cheek keeps the input's pixels instead of being painted
over. Hair comes from MediaPipe's hair segmentation model (Apache-2.0, a plain
TFLite file pinned in ``assets``): 512 x 512 x 4 input (RGB in [0, 1] plus the
previous frame's hair mask), two logits per pixel (background, hair). It runs
through TensorFlow's own ``tf.lite.Interpreter``, whose XNNPACK delegate
implements the model's MediaPipe custom ops (transposed conv with bias, max
pooling with argmax, unpooling).

The model wants the head with its hair around it, so it sees the aligned face
zoomed out ``ZOOM`` times (the face in the middle half of its 512 px input);
its output's middle half is the aligned crop's hair, resized to the crop. Per
face track, the previous frame's hair mask is fed back as the model's 4th
channel, as MediaPipe's own graph does (the aligned crops of one track line up
from frame to frame, so the previous mask is already in place).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from swaplab.face import blend

MASKS = ("hull", "hull-hair")
HAIR_MODEL = "models/hair_segmentation.tflite"
HAIR_SIZE = 512  # the model's input side
ZOOM = 2.0  # the model sees this many face-crop widths around the face
MARGIN = 2  # crop px around hair also kept: the cubic paste reads 2 px around each point


class HairSegmenter:
    """Hair probability of an aligned face: ``segmenter(frame, matrix, size, key)`` -> (size, size) float32 in [0, 1].

    ``key`` (e.g. a face track's id) selects the previous mask fed back to the
    model; None feeds an empty one (independent stills). ``threads``: TFLite CPU threads.
    """

    def __init__(self, threads: int = 1):
        import tensorflow as tf

        from swaplab.core import assets

        path = assets.fetch(HAIR_MODEL, progress=False)
        with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated": it is TF's own, and runs the model's ops
            warnings.simplefilter("ignore", UserWarning)
            self._interp = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]
        self._prev: dict = {}  # key -> (512, 512) float32 hair probability of the last call

    def reset(self) -> None:
        """Forget the previous masks (a scene cut)."""
        self._prev.clear()

    def __call__(self, frame: np.ndarray, matrix: np.ndarray, size: int, key=None) -> np.ndarray:
        k = HAIR_SIZE / (ZOOM * size)  # crop px -> model px, zoomed out about the crop's centre
        zoom = np.array([[k, 0, HAIR_SIZE / 2 - k * size / 2], [0, k, HAIR_SIZE / 2 - k * size / 2]])
        m = zoom @ np.vstack([matrix, [0, 0, 1]])  # frame px -> model px
        rgb = cv2.warpAffine(frame, m, (HAIR_SIZE, HAIR_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        prev = self._prev.get(key) if key is not None else None
        x = np.empty((1, HAIR_SIZE, HAIR_SIZE, 4), np.float32)
        x[0, ..., :3] = rgb * (1.0 / 255.0)
        x[0, ..., 3] = 0.0 if prev is None else prev
        self._interp.set_tensor(self._in, x)
        self._interp.invoke()
        logits = self._interp.get_tensor(self._out)[0]  # (512, 512, 2): background, hair
        hair = 1.0 / (1.0 + np.exp(logits[..., 0] - logits[..., 1]))  # softmax over two classes
        if key is not None:
            self._prev[key] = hair
        lo, hi = round(HAIR_SIZE / 2 - HAIR_SIZE / (2 * ZOOM)), round(HAIR_SIZE / 2 + HAIR_SIZE / (2 * ZOOM))
        return cv2.resize(hair[lo:hi, lo:hi], (size, size), interpolation=cv2.INTER_AREA)


def face_mask(crop_landmarks: np.ndarray, size: int, erode: int, blur: int, hair: np.ndarray | None = None) -> np.ndarray:
    """(size, size) float32 in [0, 1]: the eroded, feathered hull, with ``hair`` (if given) cut out.

    ``hair``: (size, size) hair probability in the crop. Pixels with hair
    probability above 0.5, and ``MARGIN`` px around them (the reach of the cubic
    warp that pastes the mask), get weight exactly 0: the input's pixel is kept.
    Beyond that the cut fades over ``blur`` px.
    """
    mask = blend.face_mask(crop_landmarks, size, erode, blur)
    if hair is None:
        return mask
    core = (hair > 0.5).astype(np.uint8)
    if not core.any():
        return mask
    core = cv2.dilate(core, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MARGIN + 1, 2 * MARGIN + 1)))
    cut = core.astype(np.float32)
    if blur:
        grown = cv2.dilate(core, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * blur + 1, 2 * blur + 1)))
        cut = cv2.GaussianBlur(grown.astype(np.float32), (2 * blur + 1, 2 * blur + 1), blur / 2.0)
        cut[core > 0] = 1.0  # the kernel stays inside the grown cut there: make "exactly" exact
    return mask * (1.0 - cut)


def overlay(crop: np.ndarray, mask: np.ndarray, hair: np.ndarray | None = None) -> np.ndarray:
    """(S, S, 3) uint8: ``crop`` with the paste mask's edge drawn in green and the hair cut out of it outlined in red."""
    out = np.ascontiguousarray(crop).copy()
    thick = max(1, crop.shape[0] // 128)
    if hair is not None:
        cut = (hair > 0.5).astype(np.uint8)
        cv2.drawContours(out, cv2.findContours(cut, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0], -1, (255, 40, 40), thick)
    edge = (mask > 0.5).astype(np.uint8)
    cv2.drawContours(out, cv2.findContours(edge, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0], -1, (40, 255, 40), thick)
    return out


def crop_overlay(crop: np.ndarray, crop_landmarks: np.ndarray, mask: str = "hull", segmenter: HairSegmenter | None = None,
                 erode: int = 3, blur: int = 3) -> np.ndarray:
    """An aligned crop (a face set's, at any size) with the paste mask ``mask`` 04_swap would use drawn on it.

    ``erode``/``blur`` are px of a 64 px crop, as in 04_swap. "hull-hair" needs a
    ``segmenter``; the crop stands in for the frame (hair beyond it is unseen).
    """
    size = crop.shape[0]
    k = size / 64
    hair = None
    if mask == "hull-hair":
        hair = segmenter(crop, np.array([[1.0, 0, 0], [0, 1.0, 0]]), size)
    elif mask != "hull":
        raise ValueError(f"mask={mask!r}: choose one of {MASKS}")
    return overlay(crop, face_mask(crop_landmarks, size, round(erode * k), round(blur * k), hair), hair)
