"""Face alignment: a canonical mean face, the Umeyama similarity transform, crops and their inverse.

A face is aligned by the similarity transform (rotation, uniform scale,
translation; no shear) that best maps its *rigid* landmarks (eye corners, nose,
forehead, temples; not the jaw, lips or brows, which move with speech and
expression) onto ``TEMPLATE``, a canonical mean face in crop units [0, 1]. The
template is the symmetrised mean of 190 frontal MediaPipe faces of the sample
speakers, framed so that the whole landmark box spans 10 %..90 % of the crop
vertically: forehead to chin fills the crop, with a little margin.

Every crop keeps its 2x3 matrix (frame pixels -> crop pixels), so crop-space
results (a swapped face, a mask) map back into the frame exactly: ``uncrop_to_roi``
warps them into a box of the frame only (``roi``: the whole crop's box; ``blend.paste``
passes the tighter box of its mask), never the whole frame.

**One geometry at every size (registration).** The template is framed at ``REF_SIZE`` (256 px, the
face set's crops); a crop of any other size is that crop *area-resized* (``rescale``: pixel centres,
not pixel corners: a 64 px pixel covers 4 x 4 of the 256 px crop, its centre at 1.5 of theirs). Training
area-downscales the face set's crops to the model's size, so the same geometry holds at swap time, where
``model_crops`` makes the model's crop and the drawn size's crop exactly as training makes them: the
decoder's face, the exemplar detail (the face set's crops) and the paste land on the same pixels
(tests/test_registration.py; docs/registration.md: a perfect 64 px face pasted 1 px off scored 0.45 where
its ceiling is 0.68).
"""

from __future__ import annotations

import numpy as np

# MediaPipe Face Mesh indices used for alignment, and where they sit in the canonical crop (x, y in [0, 1]).
STABLE_IDX = np.array([1, 2, 4, 5, 6, 9, 10, 33, 93, 98, 127, 133, 151, 168, 195, 197, 234, 263, 323, 327, 356, 362, 454])
TEMPLATE = np.array([
    (0.5000, 0.5286), (0.5000, 0.5616), (0.5000, 0.4980), (0.5000, 0.4601), (0.5000, 0.3689), (0.5000, 0.2596),
    (0.5000, 0.1017), (0.3100, 0.3524), (0.2058, 0.5187), (0.4266, 0.5529), (0.1982, 0.3775), (0.4249, 0.3589),
    (0.5000, 0.1762), (0.5000, 0.3349), (0.5000, 0.4293), (0.5000, 0.4006), (0.2004, 0.4471), (0.6900, 0.3524),
    (0.7942, 0.5187), (0.5734, 0.5529), (0.8018, 0.3775), (0.5751, 0.3589), (0.7996, 0.4471),
], dtype=np.float64)

# Regions in Face Mesh indices (contours, in order) for masks and loss weights.
LEFT_EYE = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
RIGHT_EYE = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]
LEFT_BROW = [70, 63, 105, 66, 107, 55, 65, 52, 53, 46]
RIGHT_BROW = [300, 293, 334, 296, 336, 285, 295, 282, 283, 276]
LIPS = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) mapping ``src`` (N, 2) onto ``dst`` (N, 2); returns (2, 3)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # a reflection is never a valid face alignment
        fix[1, 1] = -1
    rot = u @ fix @ vt
    var = (s**2).sum() / len(src)
    scale = np.trace(np.diag(sig) @ fix) / var if var > 0 else 1.0
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


REF_SIZE = 256  # px: the crop size ``TEMPLATE`` is framed at (pixel centres); every other size is its area resize


def alignment_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(2, 3) float64 matrix taking frame pixels to a ``size`` x ``size`` aligned crop, from (478, 2) landmarks: the
    ``REF_SIZE`` crop's matrix, ``rescale``d (so the crop is where an area resize of the 256 px crop puts the face)."""
    return rescale(umeyama(np.asarray(landmarks)[STABLE_IDX], TEMPLATE * REF_SIZE), REF_SIZE, size)


def rescale(matrix: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """The same alignment for a crop of another size, as an area resize of the crop makes it (e.g. a 256 px face set
    crop -> the model's 64 px): pixel edges scale, so a pixel centre u goes to (u + 0.5) * to / from - 0.5."""
    k = to_size / from_size
    out = np.asarray(matrix, np.float64) * k
    out[:, 2] += 0.5 * k - 0.5
    return out


def rescale_points(points: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """Crop-pixel points of a ``from_size`` crop in the ``to_size`` crop that is its area resize (see ``rescale``)."""
    k = to_size / from_size
    return (np.asarray(points, np.float64) + 0.5) * k - 0.5


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix: crop pixels -> frame pixels."""
    import cv2

    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (N, 2) points."""
    m = np.asarray(matrix, np.float64)
    return np.asarray(points, np.float64) @ m[:, :2].T + m[:, 2]


def crop(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The aligned (size, size, C) crop of ``frame``; outside the frame is edge-replicated, not black."""
    import cv2

    return cv2.warpAffine(frame, np.asarray(matrix, np.float64), (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def model_crops(frame: np.ndarray, matrix: np.ndarray, size: int, sizes) -> list[np.ndarray]:
    """The aligned crops at each of ``sizes`` as training makes them: ONE warp at ``size`` (the face set's, with its
    ``matrix``), area-resized to the others (a smaller crop warped directly would be aliased, not what the model saw).
    Their matrices are ``rescale(matrix, size, s)``."""
    import cv2

    big = crop(frame, matrix, size)
    return [big if s == size else cv2.resize(big, (s, s), interpolation=cv2.INTER_AREA if s < size else cv2.INTER_CUBIC)
            for s in sizes]


def face_crops(frame: np.ndarray, landmarks: np.ndarray, size: int, out_size: int) -> tuple[np.ndarray, ...]:
    """(matrix, crop, out_matrix, out_crop): a face as a model of ``size`` px reads it and as it is drawn at ``out_size``
    px (the detail stage's; the paste's matrix), both made as training makes them (``model_crops`` from one warp at
    ``REF_SIZE`` or larger)."""
    big = max(REF_SIZE, size, out_size)
    m = alignment_matrix(landmarks, big)
    crop, out_crop = model_crops(frame, m, big, (size, out_size))
    return rescale(m, big, size), crop, rescale(m, big, out_size), out_crop


def crop_face(frame: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(crop, matrix) for one face: the aligned crop and the frame -> crop matrix."""
    m = alignment_matrix(landmarks, size)
    return crop(frame, m, size), m


def roi(matrix: np.ndarray, size: int, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) frame box covered by a ``size`` crop with this matrix, clipped to the frame; None if outside."""
    corners = transform_points(np.array([[0, 0], [size, 0], [0, size], [size, size]]), invert(matrix))
    h, w = frame_shape[:2]
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def uncrop_to_roi(image: np.ndarray, matrix: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Warp a crop-space ``image`` (size, size, C) back into the frame box ``box`` only: (y1-y0, x1-x0, C).

    Warping into the face's box instead of the whole frame is what keeps pasting
    cheap at 720p and above.
    """
    import cv2

    x0, y0, x1, y1 = box
    inv = invert(matrix)
    inv[:, 2] -= (x0, y0)  # crop -> box coordinates
    # cubic: the crop is stretched to the face's size in the frame (a 64 px face over ~180 px of GRID), and a
    # bilinear stretch softens it further: a perfect 64 px face keeps 0.73 of the input's inner-face detail
    # pasted cubic, 0.67 bilinear (benchmarks/quality_curve.py --ceiling)
    return cv2.warpAffine(image, inv, (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)


def _fill_hull(canvas: np.ndarray, points: np.ndarray) -> None:
    """Fill the convex hull of (N, 2) ``points`` with 255, IN PLACE; quarter-pixel vertices (shift=2) keep small
    masks accurate."""
    import cv2

    hull = cv2.convexHull(np.round(np.asarray(points, np.float64) * 4).astype(np.int32))
    cv2.fillConvexPoly(canvas, hull, 255, lineType=cv2.LINE_8, shift=2)


def hull_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) uint8 in {0, 255}: the convex hull of crop-space landmarks (``landmark_masks``' channel 0 alone)."""
    face = np.zeros((size, size), np.uint8)
    _fill_hull(face, landmarks)
    return face


def landmark_masks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 2) uint8 in {0, 255} from crop-space (478, 2) landmarks.

    Channel 0: the face (convex hull of all landmarks, brow to chin).
    Channel 1: eyes with brows, and the mouth, slightly dilated: the regions
    the loss weighs up because a swap is judged by them.
    """
    import cv2

    pts = np.asarray(landmarks, np.float64)
    face = hull_mask(pts, size)
    parts = np.zeros((size, size), np.uint8)
    for region in (LEFT_EYE + LEFT_BROW, RIGHT_EYE + RIGHT_BROW, LIPS):
        _fill_hull(parts, pts[region])
    grow = max(1, size // 32)
    parts = cv2.dilate(parts, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) & face
    return np.stack([face, parts], axis=-1)
