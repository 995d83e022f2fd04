"""Every face's nearest faces of a bank at once, in O(N log N): what the exemplar banks' training pairs and coverage need.

The detail stage trains on each face of a set with exemplars of the same person found among the OTHER faces of the set
(``ExemplarBank.others``: another source, or more than ``gap`` seconds away in its own). Done face by face over the whole
bank that was N^2 (10,000 faces a side: minutes per side, per region). Here:

- **Coverage** (``has_others``): whether a face has any face it may take at all is a question of sources and times
  alone: another source exists, or its own source reaches further than ``gap`` from it. O(N), exact.
- **Nearest allowed** (``nearest_allowed``), exact: the banks rank by the MEAN point distance (``mean_distance``), a
  norm a k-d tree cannot use; its L1 distance over each point projected on ``DIRECTIONS`` directions is never more
  than that and at least cos(pi / 2 ``DIRECTIONS``) (98 %) of it. A ``scipy.spatial.cKDTree`` (p=1) over these
  projections gives each face its nearest candidates, those of its own clip (the same source within ``gap``) are
  dropped and the rest ranked by the true mean distance; the answer is proven whole when the farthest candidate's
  L1 distance already exceeds the last chosen one's true distance (nothing beyond can be nearer), and otherwise the
  face asks again for twice as many. The same exemplars as a search over the whole bank (tests/test_exemplars.py).
  In 720 dimensions the tree prunes little, though: it is exact, and about N^2 (10,000 faces: 87 s per region).
- **Nearest allowed, approximate** (``approximate``), for banks of more than ``EXACT_MAX`` faces (smaller ones, every
  test and the demo's, keep the exact answer bit for bit): the landmark sets, flattened and centred, are projected on
  their top ``COMPONENTS`` principal components (an SVD of up to ``PCA_SAMPLE`` of them), a k-d tree there gives each
  face its nearest ``CANDIDATES`` beyond those of its own clip and those it skips, and these are ranked by the true
  mean distance. A face can miss a true neighbour the projection ranked too far: benchmarks/bank_scale.py prints
  the share found (recall against the exact search, 3,000 faces; docs/trust.md has the figure). A large bank's far
  skips (``region_neighbours_of_each``) pass over at most ``FAR_RANKS`` of the nearest, so the skipped rank lies
  among the tree's candidates instead of anywhere in the nearest quarter of the bank.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

DIRECTIONS = 8  # per point: the L1 norm of its projections on these is within 2 % of its length
MARGIN = 8  # candidates asked for beyond those needed and those of the face's own clip
CHUNK = 256  # faces ranked at once (memory: CHUNK x candidates x points)
SLACK = 1e-4  # the L1 bound is shrunk by this share: float32 rounding of the true distances stays under it
EXACT_MAX = 2000  # banks of up to this many faces get the exact search; bigger ones the approximate one
COMPONENTS = 16  # principal components the approximate search's tree is built over
PCA_SAMPLE = 2000  # faces the principal components are computed from
CANDIDATES = 64  # approximate: candidates ranked by the true distance beyond the face's own clip, skips and k
FAR_RANKS = 256  # approximate: a far skip passes over at most this many of the nearest (they lie among the candidates)


def has_others(sources: np.ndarray, times: np.ndarray, gap: float) -> np.ndarray:
    """(N,) bool: faces with at least one face they may take (another source, or their own more than ``gap`` s away)."""
    sources, times = np.asarray(sources), np.asarray(times, np.float32)
    out = np.zeros(len(sources), bool)
    if len(np.unique(sources)) > 1:
        return ~out
    if len(times):
        out = (np.abs(times - times.min()) > gap) | (np.abs(times.max() - times) > gap)
    return out


def own_clip(sources: np.ndarray, times: np.ndarray, gap: float) -> np.ndarray:
    """(N,) int: about how many faces (itself included) each face may NOT take: its own source within ``gap`` s (a
    hint for how many candidates to ask for: the mask of ``nearest_allowed`` decides)."""
    sources, times = np.asarray(sources), np.asarray(times, np.float64)
    out = np.zeros(len(sources), np.int64)
    for s in np.unique(sources):
        at = np.flatnonzero(sources == s)
        t = np.sort(times[at])
        out[at] = np.searchsorted(t, times[at] + gap, "right") - np.searchsorted(t, times[at] - gap, "left")
    return out


def mean_distance(sets: np.ndarray, one: np.ndarray) -> np.ndarray:
    """(...) mean point distance of (..., P, 2) sets to ``one`` (..., P, 2): ``exemplars._distance``'s arithmetic."""
    return np.sqrt(((sets - one) ** 2).sum(-1)).mean(-1)


def _projections(sets: np.ndarray) -> np.ndarray:
    """(N, P * DIRECTIONS) float64 whose L1 distances are at most the sets' mean point distances (and >= 98 % of them)."""
    a = np.arange(DIRECTIONS) * np.pi / DIRECTIONS
    u = np.stack([np.cos(a), np.sin(a)]) * (np.sin(np.pi / (2 * DIRECTIONS)) * (1 - SLACK) / sets.shape[1])
    return (sets.astype(np.float64) @ u).reshape(len(sets), -1)


def nearest_allowed(sets: np.ndarray, k: int, sources, times, gap: float, skip=None) -> tuple[np.ndarray, np.ndarray]:
    """((N, k) int64 indices, (N, k) float32 mean point distances) of each face's nearest faces it may take (another
    source, or more than ``gap`` s away in its own), nearest first (ties: the lower index), after passing over
    ``skip[i]`` of them (None: none); -1 and inf where there are fewer. Exact up to ``EXACT_MAX`` faces, else
    ``approximate``."""
    if len(sets) > EXACT_MAX:
        return approximate(sets, k, sources, times, gap, skip)
    return exact(sets, k, sources, times, gap, skip)


def exact(sets: np.ndarray, k: int, sources, times, gap: float, skip=None) -> tuple[np.ndarray, np.ndarray]:
    """``nearest_allowed``, exact at any size (the L1 k-d tree, proven whole face by face)."""
    sets = np.asarray(sets, np.float32)
    n = len(sets)
    skip = np.zeros(n, np.int64) if skip is None else np.asarray(skip, np.int64)
    sources, times = np.asarray(sources), np.asarray(times, np.float32)
    idx, dist = np.full((n, k), -1, np.int64), np.full((n, k), np.inf, np.float32)
    if n < 2 or k < 1:
        return idx, dist
    proj = _projections(sets)
    tree = cKDTree(proj)
    ask = np.minimum(skip + k + MARGIN + own_clip(sources, times, gap), n)
    level = np.ceil(np.log2(np.maximum(ask, 1))).astype(int)
    for lv in np.unique(level):  # faces asking for about as many candidates together, fewer at once when many
        rows = np.flatnonzero(level == lv)
        size = max(CHUNK >> max(lv - 7, 0), 4)
        for i in range(0, len(rows), size):
            _resolve(tree, proj, sets, rows[i:i + size], ask, skip, k, sources, times, gap, idx, dist)
    return idx, dist


def _resolve(tree, proj, sets, rows, ask, skip, k, sources, times, gap, idx, dist) -> None:
    """Fill ``idx``/``dist`` for ``rows``; a face whose answer is not proven whole asks again with twice as many."""
    n = len(sets)
    while len(rows):
        c = int(ask[rows].max())
        bound, cand = tree.query(proj[rows], k=c, p=1)
        bound, cand = bound.reshape(len(rows), c), cand.reshape(len(rows), c)
        ok = (sources[cand] != sources[rows, None]) | (np.abs(times[cand] - times[rows, None]) > gap)
        d = np.where(ok, mean_distance(sets[cand], sets[rows, None]), np.inf)
        order = np.lexsort((cand, d))  # per row: by true distance, then index
        d, cand = np.take_along_axis(d, order, 1), np.take_along_axis(cand, order, 1)
        last = skip[rows] + k - 1  # the last one wanted
        reach = np.take_along_axis(d, np.minimum(last, c - 1)[:, None], 1)[:, 0]  # inf: too few allowed yet
        done = (c >= n) | (reach <= bound[:, -1])  # nothing beyond the candidates can be nearer than the last chosen
        for r in np.flatnonzero(done):
            s = skip[rows[r]]
            keep = d[r, s:s + k]
            keep = keep[np.isfinite(keep)]
            idx[rows[r], :len(keep)], dist[rows[r], :len(keep)] = cand[r, s:s + len(keep)], keep
        rows = rows[~done]
        ask[rows] = np.minimum(2 * ask[rows], n)


def reduced(sets: np.ndarray, components: int | None = None, seed: int = 0) -> np.ndarray:
    """(N, components) float64: the flattened sets, centred, on their top principal components (None:
    ``COMPONENTS``; from an SVD of up to ``PCA_SAMPLE`` of them)."""
    components = COMPONENTS if components is None else components
    flat = np.asarray(sets, np.float64).reshape(len(sets), -1)
    pick = np.random.default_rng(seed).choice(len(flat), min(len(flat), PCA_SAMPLE), replace=False)
    mean = flat[pick].mean(0)
    _, _, vt = np.linalg.svd(flat[pick] - mean, full_matrices=False)
    return (flat - mean) @ vt[:components].T


def approximate(sets: np.ndarray, k: int, sources, times, gap: float, skip=None, rows=None,
                any_other: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``nearest_allowed`` for ``rows`` of the bank (None: all; the answers in their order), found among each face's
    nearest candidates in the reduced space (``reduced``) and ranked by the true mean distance: a face can miss a
    true neighbour the projection put too far. ``any_other``: any face but itself may be taken (not only
    another source or more than ``gap`` s away)."""
    sets = np.asarray(sets, np.float32)
    n = len(sets)
    rows = np.arange(n) if rows is None else np.asarray(rows, np.int64)
    skip = np.zeros(n, np.int64) if skip is None else np.asarray(skip, np.int64)
    sources, times = np.asarray(sources), np.asarray(times, np.float32)
    idx, dist = np.full((len(rows), k), -1, np.int64), np.full((len(rows), k), np.inf, np.float32)
    if n < 2 or k < 1:
        return idx, dist
    if any_other:
        own, todo = np.ones(n, np.int64), np.arange(len(rows))
    else:  # faces with none they may take: none, without a search
        own, todo = own_clip(sources, times, gap), np.flatnonzero(has_others(sources, times, gap)[rows])
    proj = reduced(sets)
    tree = cKDTree(proj)
    ask = np.zeros(len(rows), np.int64)
    ask[todo] = np.minimum(skip[rows[todo]] + k + CANDIDATES + own[rows[todo]], n)
    while len(todo):
        level, again = np.ceil(np.log2(ask[todo])).astype(int), []
        for lv in np.unique(level):  # faces asking for about as many candidates together (memory: CHUNK x 128 of them)
            part, size = todo[level == lv], max((CHUNK * 128) >> lv, 4)
            for i in range(0, len(part), size):
                c = int(ask[part[i:i + size]].max())
                again.append(_rank(tree, proj, sets, part[i:i + size], rows, c, skip, k, sources, times, gap, any_other, idx, dist))
        todo = np.concatenate(again)
        ask[todo] = np.minimum(2 * ask[todo], n)
    return idx, dist


def _rank(tree, proj, sets, part, rows, c, skip, k, sources, times, gap, any_other, idx, dist) -> np.ndarray:
    """Rank ``c`` tree candidates of each face ``rows[part]`` by the true distance and fill its answer; returns the
    ``part`` with too few allowed candidates (to ask again with more)."""
    n, face = len(sets), rows[part]
    _, cand = tree.query(proj[face], k=c)
    cand = cand.reshape(len(part), c)
    if any_other:
        ok = cand != face[:, None]
    else:
        ok = (sources[cand] != sources[face, None]) | (np.abs(times[cand] - times[face, None]) > gap)
    d = np.where(ok, mean_distance(sets[cand], sets[face, None]), np.inf)
    order = np.lexsort((cand, d))
    d, cand = np.take_along_axis(d, order, 1), np.take_along_axis(cand, order, 1)
    last = skip[face] + k - 1
    enough = (c >= n) | np.isfinite(np.take_along_axis(d, np.minimum(last, c - 1)[:, None], 1)[:, 0])
    for r in np.flatnonzero(enough):
        s = skip[face[r]]
        keep = d[r, s:s + k]
        keep = keep[np.isfinite(keep)]
        idx[part[r], :len(keep)], dist[part[r], :len(keep)] = cand[r, s:s + len(keep)], keep
    return part[~enough]
