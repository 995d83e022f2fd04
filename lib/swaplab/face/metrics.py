"""Image measures with no stage logic: fine detail against a reference, what a perfect model would score, SSIM, stability.

The headline is **band detail**, a full-reference measure of sharpness that sharpening cannot fool
(``band_detail``). The inner face of the swapped frame and of the real frame are each split into
difference-of-Gaussian bands at the frame's own resolution (``BANDS``: "fine" is G(0.5 px) - G(1 px),
"mid" is G(1 px) - G(2 px)); per band, the score is the normalised correlation of the two.

- 1 means the swap's detail in that band is the real frame's, up to a gain. A gain per band (an
  unsharp mask, a contrast change) multiplies a band and leaves its correlation as it is.
- Detail that is not the input's (grain, another face's texture, a hallucinated eyelash) adds energy
  uncorrelated with the reference's band and lowers it; a blur leaves the band's shape but tilts its
  spectrum, and lowers it in order of its strength.
- On GRID frames (tests/test_metrics.py) a re-encode scores just under 1, Gaussian blurs of 1, 1.5, 2
  and 3 px score in that order, and a strongly sharpened 2 px blur scores no better than a 1.5 px blur.

The **ceilings** (``perfect_paste``) are what a perfect model of N px would score on the same frames:
the real frame squeezed to the N px aligned crop, as training and 04_swap make it (``align.face_crops``), and stretched
back with the paste's own warp. No model of that size can beat them; the per-person detail stage
(``swaplab.model.detail``) draws at a larger size to pass the 64 px one.

The **blur equivalent** (``blur_equivalent``) turns a band score into words: the Gaussian blur of the
reference (``BLUR_LADDER``, scored on the same frame) whose score it matches.

The **detail ratio** (``inner_face_detail``: variance of the Laplacian of the swap over the input's) is
kept as a second opinion: it sees a soft swap but is fooled by a gain and by another face's contrast.

Stability: ``landmark_jitter`` (acceleration of the landmarks over the face size) and the grey-level
change inside the face hull from frame to frame (``hull_mask``), the swap against the input.
"""

from __future__ import annotations

import cv2
import numpy as np

from swaplab.face import align

# The inner face: what a person looks at to judge a face (and what a blurry swap loses first).
NOSE = [1, 2, 4, 5, 6, 45, 48, 64, 98, 129, 168, 195, 197, 275, 278, 294, 327, 358]
INNER_FACE = np.array(align.LEFT_EYE + align.RIGHT_EYE + align.LEFT_BROW + align.RIGHT_BROW + align.LIPS + NOSE)
BANDS = {"fine": (0.5, 1.0), "mid": (1.0, 2.0)}  # px at the frame's resolution: the DoG's two sigmas per band
BLUR_LADDER = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # px: blurs of the reference that put a band score into words
CEILING_SIZES = (64, 128)  # px: the perfect models 05_evaluate scores beside every swap
LAPLACIAN_SIZE = 96  # px: the inner-face box is resized to this for the Laplacian ratio, so faces of any size compare
MARGIN = 12  # px around the box read with it, so no blur of the box sees the frame's edge (4 x the largest sigma)


def inner_face_box(landmarks: np.ndarray, shape: tuple[int, ...], pad: float = 0.05) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the box of the brows, eyes, nose and mouth landmarks, padded by ``pad`` of its side, in the frame."""
    pts = np.asarray(landmarks)[INNER_FACE]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    px, py = pad * (x1 - x0), pad * (y1 - y0)
    h, w = shape[:2]
    box = (max(int(x0 - px), 0), max(int(y0 - py), 0), min(int(np.ceil(x1 + px)), w), min(int(np.ceil(y1 + py)), h))
    return box if box[2] - box[0] >= 8 and box[3] - box[1] >= 8 else None


def inner_face_mask(landmarks: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(h, w) bool over ``box``: inside the convex hull of the brows, eyes, nose and mouth. The box's corners
    hold the face's outline against the background when the head turns, which a swap pastes over only in part:
    band detail is scored inside the hull, where every pixel is the swap's."""
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    pts = np.asarray(landmarks, np.float64)[INNER_FACE] - (x0, y0)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts).astype(np.int32)), 1)
    return mask.astype(bool)


def grey_area(image: np.ndarray, box: tuple[int, int, int, int], margin: int = MARGIN) -> tuple[np.ndarray, tuple[slice, slice]]:
    """(grey float32 of an (H, W, 3) uint8 frame inside ``box`` grown by ``margin`` px within the frame,
    the (rows, columns) slices of ``box`` itself in it)."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    cx0, cy0 = max(x0 - margin, 0), max(y0 - margin, 0)
    area = image[cy0:min(y1 + margin, h), cx0:min(x1 + margin, w)]
    grey = cv2.cvtColor(np.ascontiguousarray(area), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return grey, (slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0))


def _blur(grey: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(grey, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) if sigma > 0 else grey


def bands(grey: np.ndarray, inner: tuple[slice, slice], where: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{band name: the difference of Gaussians of a grey (h, w) float32 area, cut to ``inner`` (and to its pixels
    in ``where``, a bool mask of ``inner``'s shape), flattened}."""
    blurred = {s: _blur(grey, s) for s in sorted({s for pair in BANDS.values() for s in pair})}
    out = {name: (blurred[lo] - blurred[hi])[inner] for name, (lo, hi) in BANDS.items()}
    return {name: (b[where] if where is not None else b.ravel()) for name, b in out.items()}


def _correlation(x: np.ndarray, ref: np.ndarray) -> float | None:
    """Normalised correlation of two flattened bands; None where the reference has no texture (nothing to
    compare with), 0 where only the swap has none (a flat fill has none of the reference's detail)."""
    x, ref = x - x.mean(), ref - ref.mean()
    xx, rr = float(np.dot(x, x)), float(np.dot(ref, ref))
    if rr <= 1e-12 * ref.size:
        return None
    return float(np.dot(x, ref) / np.sqrt(xx * rr)) if xx > 1e-12 * x.size else 0.0


def band_detail(image: np.ndarray, reference: np.ndarray, box: tuple[int, int, int, int],
                ladder=BLUR_LADDER, where: np.ndarray | None = None) -> dict[str, float | None | list]:
    """Band detail of an (H, W, 3) uint8 ``image`` against ``reference`` inside ``box`` (the same frame size), on
    the pixels of ``where`` ((h, w) bool over the box, e.g. ``inner_face_mask``; None: all of them):
    ``{"fine": r, "mid": r, "fine_ladder": [r of the reference blurred by each sigma of ``ladder``], "mid_ladder": ...}``.
    1 = the detail of the reference, up to a gain per band; None for a region without texture."""
    area, inner = grey_area(reference, box)
    ref = bands(area, inner, where)
    mine = bands(grey_area(image, box)[0], inner, where)
    out: dict = {name: _correlation(mine[name], ref[name]) for name in BANDS}
    ladder_bands = [bands(_blur(area, s), inner, where) for s in ladder]
    for name in BANDS:
        out[f"{name}_ladder"] = [_correlation(b[name], ref[name]) for b in ladder_bands]
    return out


def blur_equivalent(score: float, ladder_scores: list[float], ladder=BLUR_LADDER) -> float:
    """The sigma (px) of the blur of the reference whose band score is ``score``: 1.0 scores 0 (the reference
    itself), and between the ladder's rungs it is interpolated; beyond its last rung it is that rung's sigma."""
    scores = np.minimum.accumulate([1.0, *ladder_scores])  # a blur never gains detail
    sigmas = [0.0, *ladder]
    return float(np.interp(score, scores[::-1], sigmas[::-1]))


def perfect_paste(frame: np.ndarray, landmarks: np.ndarray, size: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """The frame as a PERFECT ``size`` px model would leave it inside ``box`` (grown by ``MARGIN``): the face
    squeezed to the aligned crop as 04_swap crops it, then stretched back with the paste's own warp."""
    matrix, crop, _, _ = align.face_crops(frame, landmarks, size, size)  # as training and 04_swap make it
    out = frame.copy()
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = box
    grown = (max(x0 - MARGIN, 0), max(y0 - MARGIN, 0), min(x1 + MARGIN, w), min(y1 + MARGIN, h))
    out[grown[1]:grown[3], grown[0]:grown[2]] = align.uncrop_to_roi(crop, matrix, grown)
    return out


def inner_face_detail(image: np.ndarray, box: tuple[int, int, int, int], size: int = LAPLACIAN_SIZE) -> float:
    """Variance of the Laplacian of the grey (H, W, 3) uint8 ``image`` inside ``box``, resized to ``size`` x ``size``.

    The resize makes faces of any size comparable; use the SAME box for the input
    and the swapped frame, so the ratio compares like with like.
    """
    x0, y0, x1, y1 = box
    grey = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA if grey.shape[0] > size else cv2.INTER_LINEAR)
    return float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F, ksize=1).var())


def face_box_ssim(a: np.ndarray, b: np.ndarray, landmarks: np.ndarray) -> float:
    """SSIM of two (H, W, 3) uint8 frames over the box of the face landmarks, at the frames' resolution."""
    from skimage.metrics import structural_similarity

    (x0, y0), (x1, y1) = np.floor(landmarks.min(0)).astype(int), np.ceil(landmarks.max(0)).astype(int)
    h, w = a.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 7 or y1 - y0 < 7:
        return float("nan")
    return float(structural_similarity(a[y0:y1, x0:x1], b[y0:y1, x0:x1], channel_axis=-1, data_range=255))


def hull_mask(landmarks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) bool: the convex hull of the landmarks, the region 04_swap pastes into."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1)
    return mask.astype(bool)


def landmark_jitter(landmarks: list[np.ndarray | None], sizes: list[float]) -> list[float | None]:
    """Per frame: mean |L[t+1] - 2 L[t] + L[t-1]| over the 478 points / face size (None without three faces in a row).

    Acceleration, not velocity: a head that turns smoothly scores ~0, a face
    that shakes from frame to frame does not. Dividing by the face size makes
    it independent of resolution (1e-3 = 0.1 % of the face per frame^2).
    """
    out: list[float | None] = [None] * len(landmarks)
    for t in range(1, len(landmarks) - 1):
        a, b, c = landmarks[t - 1], landmarks[t], landmarks[t + 1]
        if a is None or b is None or c is None:
            continue
        out[t] = float(np.linalg.norm(c - 2 * b + a, axis=1).mean() / max(sizes[t], 1.0))
    return out
