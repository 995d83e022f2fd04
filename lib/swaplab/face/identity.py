"""Face identity embeddings: dlib's 128-D ResNet descriptor (99.38 % on LFW at distance 0.6).

Used by 02_align to keep only the target person, and by 05_evaluate to ask
whether a swapped face looks like B. Faces are embedded from SwapLab's aligned
crops: ``align`` already put the eyes and nose at fixed places, so dlib's
5-point predictor runs on a fixed box (measured: dlib's own HOG detector finds
the face at 14 %..86 % of an aligned crop) and needs no face detector of its
own. The 5-point model takes ~1 ms; the ResNet ~0.1 s per face with the
dlib-bin wheel (built without BLAS; 0.3 s on a busy 2-core machine), so callers
embed a sample of faces, not every one.

Embeddings come from the face alone, so the same call works on a real
frame's crop and on a swapped crop (04/05 never see the frame around it).
Distances are Euclidean: dlib's convention is "same person below 0.6";
distances to a *centroid* of many embeddings of one person run lower
(~0.3-0.45 for the same person, ~0.7+ for another), so 0.6 keeps a margin
both ways.
"""

from __future__ import annotations

import numpy as np

from swaplab.face import align

SAME_PERSON = 0.6  # dlib's published threshold for "same person" (Euclidean distance)
_BOX = (0.14, 0.86)  # dlib-style face box in an aligned crop, as fractions of its side


class Embedder:
    """dlib face descriptors for aligned crops or for faces in frames.

    ``jitter`` > 0 averages that many randomly jittered copies (dlib's
    ``num_jitters``): slightly more stable, proportionally slower.
    """

    def __init__(self, jitter: int = 0):
        import dlib
        import face_recognition_models as models

        self._dlib = dlib
        self._shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        self.jitter = int(jitter)

    def embed_crop(self, crop: np.ndarray) -> np.ndarray:
        """(128,) float32 descriptor of one aligned (S, S, 3) uint8 RGB crop (any S >= 64, from ``align``)."""
        crop = np.ascontiguousarray(crop)
        if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] != crop.shape[1]:
            raise ValueError(f"expected a square (S, S, 3) uint8 RGB aligned crop, got {crop.shape} {crop.dtype}")
        lo, hi = (round(f * crop.shape[0]) for f in _BOX)
        shape = self._shape(crop, self._dlib.rectangle(lo, lo, hi, hi))
        return np.asarray(self._net.compute_face_descriptor(crop, shape, self.jitter), np.float32)

    def embed(self, image: np.ndarray, landmarks_or_bbox) -> np.ndarray:
        """(128,) float32 descriptor of the face in an RGB frame.

        ``landmarks_or_bbox``: MediaPipe's (478, 2) landmarks (the face is
        aligned to a 160 px crop first, the accurate path), or an (x0, y0, x1,
        y1) box in frame pixels (dlib's predictor runs on the frame in it).
        """
        pts = np.asarray(landmarks_or_bbox, np.float64)
        if pts.shape == (4,):
            x0, y0, x1, y1 = (round(v) for v in pts)
            shape = self._shape(np.ascontiguousarray(image), self._dlib.rectangle(x0, y0, x1, y1))
            return np.asarray(self._net.compute_face_descriptor(np.ascontiguousarray(image), shape, self.jitter), np.float32)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"landmarks_or_bbox has shape {pts.shape}: give (478, 2) landmarks or an (x0, y0, x1, y1) box")
        crop, _ = align.crop_face(image, pts, 160)
        return self.embed_crop(crop)

    def embed_crops(self, crops) -> np.ndarray:
        """(N, 128) float32 for N aligned crops (an (N, S, S, 3) array or a list of them)."""
        out = [self.embed_crop(c) for c in crops]
        return np.stack(out) if out else np.zeros((0, 128), np.float32)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Euclidean distance between embeddings: (128,) vs (128,) -> float, (N, 128) vs (128,) -> (N,)."""
    d = np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32), axis=-1)
    return float(d) if np.ndim(d) == 0 else d


def centroid(embeddings: np.ndarray) -> np.ndarray:
    """(128,) mean of (N, 128) embeddings: one person's identity, steadier than any single face."""
    e = np.asarray(embeddings, np.float32)
    if e.ndim != 2 or len(e) == 0:
        raise ValueError(f"centroid needs (N, 128) embeddings with N >= 1, got shape {e.shape}")
    return e.mean(0)


def dominant(embeddings: np.ndarray, radius: float = 0.5, max_n: int = 2000, seed: int = 0) -> tuple[np.ndarray, float]:
    """(centroid, share) of the most common identity among (N, 128) embeddings.

    The medoid is the embedding with the most neighbours within ``radius``
    (tighter than 0.6, so two people never merge); the identity is the centroid
    of those neighbours, and ``share`` the fraction of embeddings among them.
    At most ``max_n`` embeddings (a random sample) enter the O(N^2) distances.
    """
    e = np.asarray(embeddings, np.float32)
    if len(e) == 0:
        raise ValueError("no embeddings: no face was embedded, so there is no dominant identity")
    if len(e) > max_n:
        e = e[np.random.default_rng(seed).choice(len(e), max_n, replace=False)]
    d = np.linalg.norm(e[:, None] - e[None], axis=-1)  # (N, N)
    near = d < radius
    best = int(np.argmax(near.sum(1) - d.mean(1) * 1e-3))  # most neighbours; ties -> most central
    members = e[near[best]]
    return members.mean(0), len(members) / len(e)
