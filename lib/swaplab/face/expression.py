"""Synthetic expressions for training: a face's lids and mouth moved, and its pixels with them, along its landmarks.

A sketched decoder (``models.ModelSpec.sketch``) draws the lips and lids where the input face's sketch puts them, but
it learns that only for the lid and mouth positions its person's footage shows. A swap asks for others (A narrows his
eyes where B's footage never does; A's mouth opens wider than B's), and there the decoder falls back on the nearest
expression it knows: open eyes where the input's are narrowed, a half-open mouth where the input's is wide open.
``variant`` makes a face of an expression next to the one it shows:

- **lids**: each upper lid lowered towards its lower lid (narrowed eyes, a blink) or raised (wide eyes), the lower lid
  rising a little with a lowered upper one (a smile's squint);
- **mouth**: the lower lip and the skin below it moved down or up, so an open mouth opens wider or less (a closed
  mouth is never opened: there are no teeth to show), and the lips stretched or narrowed sideways (a smile).

The landmarks move first; the pixels follow by the piecewise-affine warp of the face mesh (``meshwarp.Mesh``, its
triangles fixed per face set: ``triangles``), so the image, its masks and its sketch drawn from the moved landmarks
agree. The irises are not mesh points: they go where the mesh carries them. A lid lowered over an eye squeezes the
eye rather than covering it, which is what a narrowed eye looks like at the decoder's 64 px.

Training mixes these faces with the real ones (``TrainConfig.expressions``: a share of each face set, made once when
the face sets load; ``faceset.load_expression_arrays``).
"""

from __future__ import annotations

import numpy as np

from swaplab.face import align, meshwarp

LID = (-0.3, 0.7)  # the upper lid moves this share of the eye's opening towards the lower lid (negative: away)
LOWER_LID = 0.3  # the lower lid rises this share of a lowered upper lid's move
MOUTH = (-0.7, 0.8)  # the inner lips' gap changes by this share of itself ...
MIN_OPEN = 0.05  # ... for a mouth whose gap is at least this share of its width (closed mouths are only stretched)
WIDEN = (-0.08, 0.1)  # the lips stretched sideways about the mouth's centre by this share
EYES_P, MOUTH_P = 0.7, 0.7  # chance that a variant moves the lids, the mouth (at least one of them moves)
MESH_POINTS = 468  # the mesh's points: the face without the irises
GRID = 64  # px: the lattice the warp's map is computed on (then resized to the image)

# the lids as (upper, lower) pairs from the outer corner inwards; align.*_EYE lists: corner, 7 lower, corner, 7 upper
_EYES = [(eye[9:16][::-1], eye[1:8]) for eye in (align.LEFT_EYE, align.RIGHT_EYE)]
INNER_UPPER = [191, 80, 81, 82, 13, 312, 311, 310, 415]  # the inner lips, upper and lower, corner to corner
INNER_LOWER = [95, 88, 178, 87, 14, 317, 402, 318, 324]
OUTER_LOWER = [146, 91, 181, 84, 17, 314, 405, 321, 375]
CORNERS = (61, 291)
CHIN = 152
LIP_POINTS = sorted(set(align.LIPS) | set(INNER_UPPER) | set(INNER_LOWER) | {78, 308})


def triangles(points: np.ndarray) -> np.ndarray:
    """(T, 3): the mesh's triangles, from a face set's mean shape (``points``: (478, 2) or (N, 478, 2))."""
    pts = np.asarray(points, np.float64)
    return meshwarp.triangulate((pts.mean(0) if pts.ndim == 3 else pts)[:MESH_POINTS])


def move(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(478, 2) float64: the mesh points of a face's landmarks with its lids and/or mouth moved at random (irises as
    given: ``variant`` carries them with the mesh)."""
    pts = np.asarray(points, np.float64).copy()
    eyes = rng.random() < EYES_P
    mouth = rng.random() < MOUTH_P or not eyes
    if eyes:
        t = rng.uniform(*LID)
        for upper, lower in _EYES:
            ti = float(np.clip(t + rng.uniform(-0.1, 0.1), LID[0], LID[1]))
            gap = pts[lower] - pts[upper]
            pts[upper] += ti * gap
            if ti > 0:
                pts[lower] -= LOWER_LID * ti * gap
    if mouth:
        _move_mouth(pts, rng)
    return pts


def _move_mouth(pts: np.ndarray, rng: np.random.Generator) -> None:
    """The lower lip and the skin below it down or up (an open mouth only), the lips stretched sideways; in place."""
    left, right = pts[CORNERS[0]], pts[CORNERS[1]]
    centre, width = (left + right) / 2, float(np.linalg.norm(right - left))
    if width < 1e-6:
        return
    gap = float(np.mean(pts[INNER_LOWER, 1] - pts[INNER_UPPER, 1]))
    if gap >= MIN_OPEN * width:
        delta = rng.uniform(*MOUTH) * gap
        lip_y, chin_y = float(pts[OUTER_LOWER, 1].max()), float(pts[CHIN, 1])
        across = np.clip(1.0 - np.abs(pts[:, 0] - centre[0]) / (0.75 * width), 0.0, 1.0)
        down = np.zeros(len(pts))
        below = (pts[:, 1] > lip_y) & (pts[:, 1] < chin_y)  # the skin down to the chin, fading towards it
        down[below] = ((chin_y - pts[below, 1]) / max(chin_y - lip_y, 1e-6)) * across[below]
        down[INNER_LOWER + OUTER_LOWER] = np.clip(1.0 - 0.6 * np.abs(pts[INNER_LOWER + OUTER_LOWER, 0] - centre[0])
                                                  / (width / 2), 0.3, 1.0)
        down[MESH_POINTS:] = 0.0
        pts[:, 1] += delta * down
    pts[LIP_POINTS, 0] += rng.uniform(*WIDEN) * (pts[LIP_POINTS, 0] - centre[0])


def variant(image: np.ndarray, points: np.ndarray, rng: np.random.Generator, tri: np.ndarray,
            grid: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """(image, landmarks) of the face in ``image`` ((S, S, C), any dtype cv2 remaps) with landmarks ``points`` ((478,
    2) in its pixels) given another expression (``move``): the image warped so its pixels follow the moved points."""
    src = np.asarray(points, np.float64)
    dst = move(src, rng)
    dst[MESH_POINTS:] = carry(src[MESH_POINTS:], src[:MESH_POINTS], dst[:MESH_POINTS], tri)
    size = image.shape[0]
    mesh = meshwarp.Mesh(dst[:MESH_POINTS], tri, size, min(grid, size))
    return meshwarp.remap(image, mesh.map_from(src[:MESH_POINTS])), dst.astype(np.float32)


def carry(extra: np.ndarray, src: np.ndarray, dst: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(K, 2): points ``extra`` of the source face where the mesh (``src`` -> ``dst``, triangles ``tri``) takes them:
    by their barycentric coordinates in the source triangle that holds them (the nearest, where none does)."""
    bary = meshwarp.barycentric(np.asarray(extra, np.float64)[:, None], src[tri][None])  # (K, T, 3)
    t = np.argmax(bary.min(-1), 1)  # inside: all three >= 0; else the least outside
    return np.einsum("kc,kcd->kd", bary[np.arange(len(t)), t], dst[tri[t]])
