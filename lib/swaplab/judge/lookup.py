"""The lookup baseline and the distance to the nearest exemplar: what a swap scores with no model at all.

A self-swap on footage like its face set can score high by lookup alone: the person's nearest face-set crop,
pasted as it is, already has the right detail. So beside the self-swap 05_evaluate scores the **lookup**: on
each frame, the nearest crop of the person's exemplars (``Exemplars``: the run's exemplar bank, else the face
set), nearest by the **similarity-aligned landmark distance** (``Exemplars.nearest``), pasted with no model,
and scored with the same fine/mid band detail. A model that does not beat it is a lookup.

- **Distance.** The frame's inner-face landmarks (``metrics.INNER_FACE``: brows, eyes, nose, lips) in the
  aligned crop, against each exemplar's, after the least-squares similarity (rotation, scale, shift) that best
  maps the exemplar's onto the frame's: the mean point distance left over, in % of the frame's outer eye
  corners' span (``landmarks.EYE_CORNERS``). Expression and any pose the alignment leaves are what remain.
- **Paste.** The exemplar goes through that similarity and 04_swap's paste path: the face hull of the frame's
  landmarks, eroded and feathered by 04_swap's default MASK_ERODE and MASK_BLUR (3 px of a 64 px crop, scaled),
  Reinhard colour transfer ("rct") to the frame's face under the mask, and ``blend.paste``. Nothing else: no
  decoder, no detail net, no warp of the features onto the frame's.
- **Thirds.** ``thirds`` splits the scored frames by their distance into near, middle and far (tertiles) and
  gives the self-swap's and the lookup's fine detail in each: a model must beat the lookup in the far third,
  where the face set has nothing close.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from swaplab.face import align, blend, masks
from swaplab.face.landmarks import EYE_CORNERS
from swaplab.face.metrics import INNER_FACE
from swaplab.judge.numbers import median_of

MASK_ERODE, MASK_BLUR = 3, 3  # px of a 64 px crop: 04_swap's defaults (SwapOptions), scaled to the crop's size
COLOR = "rct"  # 04_swap's default colour transfer
THIRDS = ("near", "middle", "far")
_EYES = [list(INNER_FACE).index(i) for i in EYE_CORNERS]  # where the outer eye corners sit among the INNER_FACE points


class Exemplars:
    """One person's crops at ``size`` px and their INNER_FACE landmarks there: ``points`` (N, 90, 2) float32;
    ``image(i)`` gives crop i as (S, S, 3) uint8 RGB; ``origin`` says where they came from."""

    def __init__(self, points: np.ndarray, image, size: int, origin: str):
        self.points, self.image, self.size, self.origin = np.asarray(points, np.float32), image, int(size), origin
        if not len(self.points):
            raise ValueError(f"{origin} holds no faces: the lookup baseline needs the person's exemplars")
        z = self.points[..., 0] + 1j * self.points[..., 1].astype(np.float64)  # (N, 90): a 2-D similarity is one complex product
        self._mean = z.mean(1)
        self._centred = z - self._mean[:, None]
        self._conj = np.conj(self._centred)
        self._norm = (np.abs(self._centred) ** 2).sum(1)

    def __len__(self) -> int:
        return len(self.points)

    @classmethod
    def of_run(cls, run_dir: str | Path, side: str, faces_dir: str | Path) -> "Exemplars":
        """The run's exemplar bank of decoder ``side`` ("a"/"b") when it has one (what its detail stage draws from),
        else the kept faces of the face set ``faces_dir``."""
        from swaplab.model import exemplars, runs

        bank_file = Path(run_dir) / runs.BANK_FILE.format(side=side)
        if bank_file.is_file():
            bank = exemplars.ExemplarBank.load(bank_file)
            return cls(bank.points, bank.image, bank.size, f"{bank_file} ({len(bank)} exemplars)")
        return cls.of_face_set(faces_dir)

    @classmethod
    def of_face_set(cls, faces_dir: str | Path) -> "Exemplars":
        from swaplab.face import faceset

        fs = faceset.FaceSet(faces_dir)
        rows = fs.kept()
        points = np.array([np.asarray(r["landmarks"], np.float32)[INNER_FACE] for r in rows], np.float32)
        return cls(points.reshape(len(rows), len(INNER_FACE), 2), lambda i: fs.image(rows[i]), fs.face_size,
                   f"{faces_dir} ({len(rows)} kept faces; the run has no exemplar bank)")

    def nearest(self, landmarks: np.ndarray) -> tuple[int, float, np.ndarray]:
        """(index, distance in % of the eye-corner span, (2, 3) frame px -> that exemplar's crop px) for a face's
        (478, 2) frame landmarks: the exemplar whose landmarks are nearest after a similarity (see the module)."""
        out = align.alignment_matrix(landmarks, self.size)  # frame -> the frame face's own aligned crop at our size
        q = align.transform_points(np.asarray(landmarks)[INNER_FACE], out)
        z = q[:, 0] + 1j * q[:, 1]
        zc = z - z.mean()
        a = (self._conj @ zc) / np.maximum(self._norm, 1e-9)  # (N,): exemplar -> frame face, least squares
        d = np.abs(zc[None] - a[:, None] * self._centred).mean(1)  # (N,) px left over
        i = int(np.argmin(d))
        span = abs(z[_EYES[1]] - z[_EYES[0]])
        t = z.mean() - a[i] * self._mean[i]  # exemplar crop -> frame crop: w -> a w + t
        to_frame_crop = np.array([[a[i].real, -a[i].imag, t.real], [a[i].imag, a[i].real, t.imag]])
        return i, float(100.0 * d[i] / max(span, 1e-6)), _compose(align.invert(to_frame_crop), out)

    def paste(self, frame: np.ndarray, landmarks: np.ndarray, index: int, matrix: np.ndarray) -> np.ndarray:
        """A copy of the (H, W, 3) uint8 ``frame`` with exemplar ``index`` pasted over the face of ``landmarks``
        through ``matrix`` (frame px -> the exemplar's crop px, from ``nearest``), as 04_swap pastes."""
        s = self.size
        k = s / 64
        mask = masks.face_mask(align.transform_points(landmarks, matrix), s, round(MASK_ERODE * k), round(MASK_BLUR * k))
        ref = align.crop(frame, matrix, s).astype(np.float32) * (1.0 / 255.0)
        face = blend.color_transfer(self.image(index).astype(np.float32) * (1.0 / 255.0), ref, mask, COLOR)
        out = frame.copy()
        blend.paste(out, np.clip(face * 255.0 + 0.5, 0, 255).astype(np.uint8), mask, matrix)
        return out


def _compose(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The (2, 3) affine map of ``first`` then ``second``."""
    m = np.vstack([first, [0.0, 0.0, 1.0]])
    return (np.vstack([second, [0.0, 0.0, 1.0]]) @ m)[:2]


def thirds(distances: list, scores: dict[str, list]) -> dict[str, dict]:
    """{"near"/"middle"/"far": {"frames", "distance": [low, high], <name>: median score}}: the frames that have a
    distance and a score in ``scores[first name]``, split at the tertiles of their distances."""
    first = next(iter(scores))
    keep = [i for i, d in enumerate(distances) if d is not None and scores[first][i] is not None]
    if not keep:
        return {}
    d = np.array([distances[i] for i in keep])
    edges = np.quantile(d, [1 / 3, 2 / 3])
    part = np.digitize(d, edges, right=True)  # 0: <= first tertile, 1: <= second, 2: beyond
    out = {}
    for j, name in enumerate(THIRDS):
        rows = [keep[n] for n in np.flatnonzero(part == j)]
        out[name] = {"frames": len(rows), "distance": [float(d[part == j].min()), float(d[part == j].max())] if rows else None,
                     **{what: median_of([vals[i] for i in rows]) for what, vals in scores.items()}}
    return out
