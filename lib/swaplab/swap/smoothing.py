"""Temporal smoothing of landmarks: the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012).

Per-frame landmarks jitter by a pixel or two even on a still face; pasted faces
then shimmer. A fixed low-pass filter would steady them but lag behind real head
motion. The One-Euro filter is an exponential smoother whose cutoff frequency
rises with the signal's speed: heavy smoothing while the face is still, little
lag while it moves.

``OneEuro`` filters a whole array with ONE cutoff per step, computed from the
mean speed of its values: every value is smoothed alike, so a shape is never
distorted by points lagging by different amounts.

``FaceSmoother`` is what a face track uses: it steadies the face's **rigid
motion** only (the similarity that moves its stable points: nose bridge, eye
corners, cheek outline, One-Euro on those points) and leaves its **expression**
as detected. One filter over all 478 points was what 04_swap had: when only the
mouth moves (a person talking with a still head) their mean speed stays low, the
cutoff stays low and the lips lag and barely open, so the swap's mouth did not
follow the speech and its detail landed where the mouth was a moment before
(self-swap fine detail 0.77 against 0.80 without smoothing on the demo's held-back
clip, 0.62 against 0.75 in its far third: docs/ablation.md). Shimmer is the paste
moving, which the rigid part is; MediaPipe's video mode already tracks the points.
"""

from __future__ import annotations

import math

import numpy as np

from swaplab.face.align import STABLE_IDX, umeyama


def _alpha(cutoff_hz: float, dt: float) -> float:
    """Smoothing factor in (0, 1] of an exponential filter with this cutoff at sample interval ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuro:
    """One-Euro filter over arrays of any fixed shape.

    ``min_cutoff`` (Hz): cutoff while still; lower = steadier but laggier.
    ``beta``: how fast the cutoff rises with speed, speed measured in
    ``scale`` units per second (pass the face size as ``scale`` so the same
    ``beta`` works at any resolution). ``d_cutoff`` (Hz): cutoff of the speed
    estimate itself.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 5.0, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or beta < 0 or d_cutoff <= 0:
            raise ValueError(f"OneEuro(min_cutoff={min_cutoff}, beta={beta}, d_cutoff={d_cutoff}): "
                             "cutoffs must be > 0 Hz and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        """Forget the past (call when the tracked face is lost, so a new face does not glide in)."""
        self._x: np.ndarray | None = None  # last filtered value
        self._dx = 0.0  # filtered mean speed, scale units / s
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        """Filter the sample ``x`` taken at time ``t`` (seconds, increasing); returns a new float64 array."""
        x = np.asarray(x, np.float64)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._t, self._dx = x.copy(), t, 0.0
            return self._x.copy()
        dt = t - self._t
        speed = float(np.abs(x - self._x).mean()) / (dt * max(scale, 1e-9))
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * speed + (1 - a_d) * self._dx
        a = _alpha(self.min_cutoff + self.beta * self._dx, dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.copy()


class FaceSmoother:
    """A face track's landmarks, (478, 2) frame px -> the same with their rigid motion steadied by One-Euro
    (``min_cutoff``, ``beta``) and their expression as detected (see the module)."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 5.0):
        self.rigid = OneEuro(min_cutoff, beta)

    def reset(self) -> None:
        self.rigid.reset()

    def __call__(self, points: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        raw = np.asarray(points, np.float64)
        if raw.ndim != 2 or len(raw) <= int(STABLE_IDX.max()):
            return self.rigid(raw, t, scale)  # not a full mesh: one filter over the points, as OneEuro
        steady = self.rigid(raw[STABLE_IDX], t, scale)
        moved = umeyama(raw[STABLE_IDX], steady)  # the raw face moved as its steadied stable points say
        return raw @ moved[:, :2].T + moved[:, 2]

