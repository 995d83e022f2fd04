"""A person's exemplars: their own face-set crops, found by expression and pose, whose high-pass detail the detail stage is given.

The autoencoder's face is soft (it is small and, on a CPU, far from trained); the face set
holds the person's real eyes, lids, brows and lips at 256 px, in hundreds of expressions and
poses. A frame's landmarks (aligned, so only expression and pose remain) find the crops of the
target person that look most like it (``ExemplarBank.neighbours``), and their **high-pass detail** (each
crop minus its Gaussian blur of ``SIGMA`` px at the decoder's size: what a 64 px face cannot
hold) is blended by how near each is (``ExemplarBank.detail``). The detail net
(``swaplab.model.detail``) gets it beside the decoder's face and learns where to trust it.

- **Whose landmarks.** For a swap A -> B the query is A's own aligned landmarks: B's crops whose
  features sit where A's are, which is where the decoder draws them (``Cascade.exemplar_detail``
  says what moving them onto B's face shape first cost).
- **No pixel of the input.** Only the frame's landmarks, which the swap uses anyway to align
  and paste, reach the bank; the detail comes from the target person's own footage.
- **Per frame in video.** Each frame takes the exemplars of its own landmarks. ``Blender`` can carry part of
  each track's last weights into the next frame (``CARRY``), so exemplars fade into each other rather than jump;
  it is off: carrying half lagged a moving mouth (its detail stayed where the mouth was), and frame to frame the
  swap changes less than its input even without it (docs/ablation.md).
- **Self-contained runs.** A bank is saved into the run (``save``: the crops as JPEG, their
  landmarks, at most ``BANK_MAX`` of them, spread over the set), so a run swaps without its
  face sets, on another machine or in Colab.
- **Training pairs.** ``neighbours_of_each`` finds each face's exemplars among faces of the
  set from OTHER sources (or more than ``GAP_S`` seconds away in the same source): the net
  learns from exemplars as far from the face as a held-back clip's will be, not its own
  neighbouring frames.
- **Warped, per region** (``region_neighbours``, ``warped_detail``; used by a detail net of ``DetailSpec.warp``):
  eyes (with irises), brows, nose and mouth (with the inner lips) are each chosen by their own landmarks' shape,
  weighted exp(-d^2 / sigma^2) (sigma from the bank's own nearest-neighbour distances, ``sigmas``) so a region
  nothing fits fades, blended on the bank's mean face shape and moved onto the query face by a piecewise-affine
  warp (``swaplab.face.meshwarp``), relative to the exemplar's local brightness (its shading stays behind), with
  a confidence channel. docs/warp.md has what it measured ("high-pass detail" here is the crop minus its blur of
  ``SIGMA`` decoder px, not the 0.5-1 px "fine" band of ``face.metrics``).
"""

from __future__ import annotations

import zipfile
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from swaplab.face import align, meshwarp
from swaplab.face.metrics import INNER_FACE, NOSE
from swaplab.model import neighbours

K = 8  # exemplars blended per face (new runs: ``DetailSpec.blend``; 4 before, chosen on face-set faces: docs/ablation.md)
TAU = 1.0  # px of mean landmark distance at the bank's size: weights fall as exp(-(d - d_nearest) / TAU)
SIGMA = 2.0  # px at the decoder's size: an exemplar's detail is what a Gaussian blur of this sigma takes away
BANK_MAX = 2000  # exemplars kept per person in a run (a spread subsample of a bigger face set)
GAP_S = 2.0  # s: a training face's exemplars come from other sources, or from this far away in its own
CARRY = 0.0  # share of a track's last weights carried into the next frame: 0, none (0.5 lagged a moving mouth: docs/ablation.md)
JPEG_QUALITY = 95
# -- warped exemplars (``warped_detail``): each region chosen by its own landmarks and moved onto the query's geometry
IRIS_L, IRIS_R = list(range(468, 473)), list(range(473, 478))  # MediaPipe's iris points (with LEFT_EYE, RIGHT_EYE)
INNER_LIPS = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191]
REGIONS = {"eye_l": align.LEFT_EYE + IRIS_L, "eye_r": align.RIGHT_EYE + IRIS_R, "brow_l": align.LEFT_BROW,
           "brow_r": align.RIGHT_BROW, "nose": NOSE, "mouth": align.LIPS + INNER_LIPS}
FACE_POINTS = sorted(set(INNER_FACE.tolist()) | set(IRIS_L + IRIS_R + INNER_LIPS))  # the whole-face query (the rest)
SIGMA_NN = 2.0  # a region's sigma: this times the median distance of the bank's faces to their nearest (other-clip) one
WARP_GRID = 64  # px: the lattice the warps' maps are computed on (then resized to the bank's size)
MESH_POINTS = 468  # the warp's mesh: the face points without the irises (they move under the lids with the gaze)
FEATHER = 0.25  # a region's mask: its hull grown by this share of its span, feathered over as much again
RELATIVE_EPS = 0.1  # warped detail is relative to the exemplar's local brightness: (x - blur) / (blur + RELATIVE_EPS)
MIN_WEIGHT = 0.02  # an exemplar weighted less than this in a region is not warped (it would not show)
CONF_SCALE = 0.5  # the confidence map rides as a 4th channel of the detail, times this (int8 in training: +-0.5 fits)


class ExemplarBank:
    """One person's crops at ``size`` px (JPEG bytes, decoded on demand) and their inner-face landmarks.

    ``points``: (N, 90, 2) float32, the ``INNER_FACE`` landmarks at ``size``; ``mesh``: (N, 478, 2) float32, all of
    them (None in a bank saved before warped exemplars: it cannot warp); ``sources``/``times``: where each crop came
    from (``others``: the exemplars a face of the set may take in training).
    """

    def __init__(self, jpegs: list[bytes], points: np.ndarray, size: int, sources=None, times=None, cache: int = 256,
                 names=(), mesh: np.ndarray | None = None):
        self.jpegs, self.size = list(jpegs), int(size)
        self.names = [str(n) for n in names]  # source index -> the source's name in the face set (provenance.json)
        self.points = np.asarray(points, np.float32)
        self.mesh = None if mesh is None else np.asarray(mesh, np.float32)
        self._tri = self._sets = self._sigmas = self._canon = None
        n = len(self.jpegs)
        self.sources = np.zeros(n, np.int32) if sources is None else np.asarray(sources, np.int32)
        self.times = np.zeros(n, np.float32) if times is None else np.asarray(times, np.float32)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()  # index -> (S, S, 3) float32 detail
        self._cache_size = cache

    def __len__(self) -> int:
        return len(self.jpegs)

    @classmethod
    def from_arrays(cls, images: np.ndarray, landmarks: np.ndarray, sources=None, times=None) -> "ExemplarBank":
        """From crops (N, S, S, 3) uint8 RGB and their (N, 478, 2) landmarks at S px."""
        jpegs = [cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
                 for im in images]
        landmarks = np.asarray(landmarks, np.float32)
        return cls(jpegs, landmarks[:, INNER_FACE], images.shape[1], sources, times,
                   mesh=landmarks if landmarks.shape[1] == 478 else None)

    def subsample(self, n: int = BANK_MAX, seed: int = 0) -> "ExemplarBank":
        """At most ``n`` exemplars (``spread``)."""
        return self if len(self) <= n else self.take(self.spread(n, seed))

    def spread(self, n: int = BANK_MAX, seed: int = 0) -> np.ndarray:
        """Sorted indices of ``n`` exemplars: a quarter by farthest-point sampling, so the set's rarest expressions and
        poses stay, the rest at random, so the common ones stay as dense as in training."""
        flat = self.points.reshape(len(self), -1)
        chosen, dist = [0], np.linalg.norm(flat - flat[0], axis=1)
        for _ in range(n // 4 - 1):
            chosen.append(int(dist.argmax()))
            dist = np.minimum(dist, np.linalg.norm(flat - flat[chosen[-1]], axis=1))
        rest = np.setdiff1d(np.arange(len(self)), chosen)
        return np.sort(np.concatenate([chosen, np.random.default_rng(seed).choice(rest, n - len(chosen), replace=False)]))

    def take(self, idx) -> "ExemplarBank":
        """The exemplars ``idx``, as a bank of their own (sources, times, names and mesh kept)."""
        idx = np.asarray(idx, np.int64)
        return ExemplarBank([self.jpegs[i] for i in idx], self.points[idx], self.size, self.sources[idx], self.times[idx],
                            names=self.names, mesh=None if self.mesh is None else self.mesh[idx])

    def coverage(self) -> float:
        """Share of the exemplars that have exemplars of their own in training (``neighbours_of_each``: from other
        sources or ``GAP_S`` away): below about half, the detail net cannot learn to use them."""
        if not len(self):
            return 0.0
        return float(np.mean(neighbours.has_others(self.sources, self.times, GAP_S)))

    def others(self, i: int) -> np.ndarray:
        """(N,) bool: the exemplars face ``i`` of the bank may take in training: from another source, or more than
        ``GAP_S`` seconds away in its own (never its own neighbouring frames)."""
        return (self.sources != self.sources[i]) | (np.abs(self.times - self.times[i]) > GAP_S)

    # ------------------------------------------------------------ finding

    def query(self, landmarks: np.ndarray) -> np.ndarray:
        """(90, 2): a face's inner-face landmarks (given as all 478 or as the 90) at this bank's size."""
        q = np.asarray(landmarks, np.float32)
        return q[INNER_FACE] if len(q) != len(INNER_FACE) else q

    def neighbours(self, query: np.ndarray, k: int = K, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(indices, weights summing to 1) of the ``k`` exemplars nearest to ``query`` (mean landmark distance);
        ``allowed``: a bool mask of exemplars that may be chosen."""
        d = np.sqrt(((self.points - query) ** 2).sum(-1)).mean(1)  # (N,) px
        if allowed is not None:
            d = np.where(allowed, d, np.inf)
        k = min(k, int(np.isfinite(d).sum()))
        if k == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        idx = np.argpartition(d, k - 1)[:k]
        idx = idx[np.argsort(d[idx])]
        w = np.exp(-(d[idx] - d[idx[0]]) / TAU)
        return idx, (w / w.sum()).astype(np.float32)

    def neighbours_of_each(self, k: int = K) -> tuple[np.ndarray, np.ndarray]:
        """((N, k) indices, (N, k) weights): every exemplar's own exemplars, from other sources or ``GAP_S`` away.

        A face with no such exemplar gets none (weights 0): the net then learns that case too. A k-d tree
        (``swaplab.model.neighbours``): up to ``neighbours.EXACT_MAX`` faces the same exemplars and weights as
        ``neighbours`` with ``others`` gives each, above that approximate ones (the tree in a reduced space)."""
        idx, d = neighbours.nearest_allowed(self.points, k, self.sources, self.times, GAP_S)
        found = idx >= 0
        with np.errstate(invalid="ignore"):  # a face with none: inf - inf, dropped
            w = np.where(found, np.exp(-(d - d[:, :1]) / TAU), 0.0)
        w = (w / np.maximum(w.sum(1, keepdims=True), 1e-30)).astype(np.float32)
        return np.where(found, idx, 0), w

    # ------------------------------------------------------------ drawing

    def image(self, i: int) -> np.ndarray:
        """(S, S, 3) uint8 RGB: exemplar ``i``."""
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(self.jpegs[i], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def _high_pass(self, i: int, in_size: int) -> np.ndarray:
        """(S, S, 3) float32: exemplar ``i`` minus its blur of ``SIGMA`` px at the decoder's size (cached)."""
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        x = self.image(i).astype(np.float32) * (1.0 / 255.0)
        fine = x - cv2.GaussianBlur(x, (0, 0), SIGMA * self.size / in_size)
        self._cache[i] = fine
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return fine

    def detail(self, idx, weights, in_size: int) -> np.ndarray:
        """(S, S, 3) float32: the weighted high-pass detail of exemplars ``idx`` (zeros for none)."""
        out = np.zeros((self.size, self.size, 3), np.float32)
        for i, w in zip(idx, weights):
            if w > 0:
                out += w * self._high_pass(int(i), in_size)
        return out

    # ------------------------------------------------------------ warped, per region

    def _regions(self) -> dict:
        """{region: (N, P, 2) its points in each face, centred on their mean} ("face": ``FACE_POINTS``, the rest)."""
        if self.mesh is None:
            raise ValueError("this exemplar bank has no face mesh (saved before warped exemplars): train this RUN's "
                             "detail stage on to write it again from the face set, or use a detail stage without warping")
        if self._sets is None:
            self._sets = {name: _centred(self.mesh[:, idx]) for name, idx in {**REGIONS, "face": FACE_POINTS}.items()}
        return self._sets

    def sigmas(self) -> dict:
        """{region: sigma px}: ``SIGMA_NN`` x the median, over (up to 300 of) the bank's faces, of the distance to
        their nearest exemplar they could take in training (``others``; any other face where none): an exemplar that
        far from a query keeps exp(-1/4) of its weight, twice that far exp(-1)."""
        if self._sigmas is None and len(self) > neighbours.EXACT_MAX:
            self._sigmas = self._sigmas_approximate()
        if self._sigmas is None:
            pick = np.sort(np.random.default_rng(0).choice(len(self), min(len(self), 300), replace=False))
            allowed = (self.sources[pick, None] != self.sources) | (np.abs(self.times[pick, None] - self.times) > GAP_S)
            alone = ~allowed.any(1)
            allowed[alone] = np.arange(len(self)) != pick[alone, None]  # no face from elsewhere: any other one
            self._sigmas = {}
            for name, pts in self._regions().items():
                d = np.stack([_distance(pts, pts[i]) for i in pick])  # (n, N)
                nearest = np.where(allowed, d, np.inf).min(1)
                nearest = nearest[np.isfinite(nearest)]
                self._sigmas[name] = max(SIGMA_NN * float(np.median(nearest)), 1e-3) if len(nearest) else 1.0
        return self._sigmas

    def _sigmas_approximate(self) -> dict:
        """``sigmas`` of a bank of more than ``neighbours.EXACT_MAX`` faces: the same 300 faces' nearest exemplars found
        by ``neighbours.approximate`` (O(N log N) instead of 300 x N per region)."""
        pick = np.sort(np.random.default_rng(0).choice(len(self), min(len(self), 300), replace=False))
        alone = ~neighbours.has_others(self.sources, self.times, GAP_S)[pick]
        out = {}
        for name, pts in self._regions().items():
            nearest = neighbours.approximate(pts, 1, self.sources, self.times, GAP_S, rows=pick)[1][:, 0]
            if alone.any():  # no face from elsewhere: any other one
                nearest[alone] = neighbours.approximate(pts, 1, self.sources, self.times, GAP_S, rows=pick[alone],
                                                        any_other=True)[1][:, 0]
            nearest = nearest[np.isfinite(nearest)]
            out[name] = max(SIGMA_NN * float(np.median(nearest)), 1e-3) if len(nearest) else 1.0
        return out

    def region_neighbours(self, query: np.ndarray, k: int = K, allowed: np.ndarray | None = None,
                          skip: dict | None = None) -> dict:
        """{region: (indices, weights)} for a face's (478, 2) landmarks at this bank's size: per region (and "face",
        the rest), the ``k`` exemplars nearest by that region's own points (shape: each set's mean removed), weighted
        exp(-d^2 / sigma^2) (``sigmas``) and scaled to sum at most 1: their sum is how well the region fits.
        ``allowed``: exemplars that may be chosen; ``skip``: {region: n} passes over the n nearest (far, for training)."""
        q = np.asarray(query, np.float32)
        if q.shape != (478, 2):
            raise ValueError(f"query has shape {q.shape}: give a face's 478 landmarks in its aligned crop at {self.size} px")
        sig, out = self.sigmas(), {}
        for name, pts in self._regions().items():
            d = _distance(pts, _centred(q[None, REGIONS.get(name, FACE_POINTS)])[0])
            if allowed is not None:
                d = np.where(allowed, d, np.inf)
            n = (skip or {}).get(name, 0)
            m = min(n + k, int(np.isfinite(d).sum()))
            if m <= n:
                out[name] = (np.zeros(0, np.int64), np.zeros(0, np.float32))
                continue
            idx = np.argpartition(d, m - 1)[:m]
            idx = idx[np.argsort(d[idx])][n:]
            u = np.exp(-(d[idx] / sig[name]) ** 2)
            out[name] = (idx, (u / max(float(u.sum()), 1.0)).astype(np.float32))
        return out

    def _relative(self, i: int, in_size: int) -> np.ndarray:
        """(S, S, 3) float32: exemplar ``i``'s high-pass detail relative to its own local brightness,
        (x - blur) / (blur + ``RELATIVE_EPS``) (blur of ``SIGMA`` px at the decoder's size), moved onto the bank's mean
        face shape (``_canonical``), cached: its shading stays behind, its features sit where the mean face has them."""
        key = (i, "canonical")
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        x = self.image(i).astype(np.float32) * (1.0 / 255.0)
        blur = cv2.GaussianBlur(x, (0, 0), SIGMA * self.size / in_size)
        mesh, _ = self._canonical()
        self._cache[key] = out = meshwarp.remap((x - blur) / (blur + RELATIVE_EPS), mesh.map_from(self.mesh[i]))
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return out

    def _canonical(self) -> tuple:
        """(the bank's mean face shape rasterised (``meshwarp.Mesh``), [(region, box, mask) over it, "face" last: the
        rest]): the geometry the exemplars are blended in, made once per bank."""
        if self._canon is None:
            self._regions()  # says so when there is no mesh
            mean = self.mesh.mean(0)
            self._tri = meshwarp.triangulate(mean[:MESH_POINTS])  # the irises choose, they do not warp (see WARP.md)
            masks = region_masks(mean, self.size)
            total = np.zeros((self.size, self.size), np.float32)
            for (x0, y0, x1, y1), m in masks.values():
                total[y0:y1, x0:x1] += m
            scale = 1.0 / np.maximum(total, 1.0)  # overlapping regions share
            parts = [(name, box, m * scale[box[1]:box[3], box[0]:box[2]]) for name, (box, m) in masks.items()]
            x0, y0, x1, y1 = face = _box(mean, self.size, 0.1)
            parts.append(("face", face, (1.0 - np.minimum(total, 1.0))[y0:y1, x0:x1]))
            self._canon = (meshwarp.Mesh(mean, self._tri, self.size, WARP_GRID), parts)
        return self._canon

    def warped_detail(self, query: np.ndarray, choices: dict, in_size: int) -> np.ndarray:
        """(S, S, 4) float32: the relative detail of each region's exemplars (``choices``, from ``region_neighbours``),
        blended by their weights under feathered region masks (the rest: "face") on the bank's mean face shape, then
        moved onto the query face's geometry (piecewise-affine over the face mesh, ``meshwarp``); channel 3: the
        confidence map times ``CONF_SCALE``, per pixel the weight the regions there carry (0 where nothing fits)."""
        mesh, parts = self._canonical()
        acc = np.zeros((self.size, self.size, 4), np.float32)
        for name, (x0, y0, x1, y1), m in parts:
            idx, w = choices.get(name, ((), ()))
            blend = None
            for j, wj in zip(idx, w):
                if wj > MIN_WEIGHT:
                    part = self._relative(int(j), in_size)[y0:y1, x0:x1]
                    blend = part * wj if blend is None else cv2.scaleAdd(part, float(wj), blend)
            if blend is not None:
                acc[y0:y1, x0:x1, :3] += blend * m[..., None]
            acc[y0:y1, x0:x1, 3] += CONF_SCALE * float(np.sum(w)) * m
        to_query = meshwarp.Mesh(np.asarray(query, np.float64), self._tri, self.size, WARP_GRID)
        return meshwarp.remap(acc, to_query.map_from(mesh.dst))

    def region_neighbours_of_each(self, k: int = K, far_share: float = 0.0, seed: int = 0) -> list[dict]:
        """Every exemplar's own region choices for training (from ``others``, as ``neighbours_of_each``); a
        ``far_share`` of the faces pass over a random number of their nearest per region (up to a quarter of the
        bank, log-uniform; in a bank of more than ``neighbours.EXACT_MAX``, up to ``neighbours.FAR_RANKS``, among the
        approximate search's candidates), so the net meets exemplars of other expressions and poses, and their low weights."""
        rng = np.random.default_rng(seed)
        top = max(len(self) // 4, 1) if len(self) <= neighbours.EXACT_MAX else neighbours.FAR_RANKS
        names = (*REGIONS, "face")
        skip = np.zeros((len(self), len(names)), np.int64)
        for i in range(len(self)):  # the random numbers drawn in the order they always were
            if rng.random() < far_share:
                skip[i] = [int(np.exp(rng.uniform(0, np.log(top + 1)))) - 1 for _ in names]
        sig, sets = self.sigmas(), self._regions()
        found = {}
        for r, name in enumerate(names):  # a k-d tree per region (``swaplab.model.neighbours``)
            idx, d = neighbours.nearest_allowed(sets[name], k, self.sources, self.times, GAP_S, skip[:, r])
            u = np.exp(-(d / sig[name]) ** 2)
            found[name] = (idx, (u / np.maximum(u.sum(1, keepdims=True), 1.0)).astype(np.float32))
        return [{name: (idx[i][idx[i] >= 0], w[i][idx[i] >= 0]) for name, (idx, w) in found.items()} for i in range(len(self))]

    # ------------------------------------------------------------ on disk

    def save(self, path: str | Path) -> Path:
        """One .npz (atomic): the JPEGs end to end with their offsets, the landmarks, sources and times."""
        from swaplab.core.files import atomic_path

        offsets = np.cumsum([0] + [len(j) for j in self.jpegs]).astype(np.int64)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, data=np.frombuffer(b"".join(self.jpegs), np.uint8), offsets=offsets, points=self.points,
                     sources=self.sources, times=self.times, size=np.int32(self.size),
                     names=np.array(self.names, dtype=str), **({} if self.mesh is None else {"mesh": self.mesh}))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "ExemplarBank":
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} is missing: copy it along with the run's other files, or train this "
                                    "RUN's detail stage on to write it again from the face set")
        try:
            with np.load(path) as z:
                data, off = z["data"].tobytes(), z["offsets"]
                return cls([data[a:b] for a, b in zip(off[:-1], off[1:])], z["points"], int(z["size"]), z["sources"],
                           z["times"], names=z["names"].tolist() if "names" in z.files else (),
                           mesh=z["mesh"] if "mesh" in z.files else None)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise OSError(f"{path} is damaged ({(str(e).splitlines() or [type(e).__name__])[0][:100]}): delete it (the run "
                          "then swaps without exemplars, softer), or restore a copy; training this RUN's detail stage on "
                          "(a higher DETAIL_STEPS or TIME_BUDGET_MIN) writes it again from the face set") from None


class Blender:
    """The exemplar detail of each face of a video: per track, ``carry`` of the last frame's weights carries over
    (renormalised, the ``k`` largest kept), so exemplars fade instead of jumping; ``CARRY`` (0) by default: none."""

    def __init__(self, carry: float = CARRY):
        self.carry = carry
        self.last: dict = {}  # (bank id, track) -> {index: weight}

    def reset(self) -> None:
        self.last.clear()

    def weights(self, bank: ExemplarBank, query: np.ndarray, track=None, k: int = K) -> tuple[np.ndarray, np.ndarray]:
        idx, w = bank.neighbours(query, k)
        if track is None or not self.carry:
            return idx, w
        key = (id(bank), track)
        mixed = {int(i): (1 - self.carry) * float(x) for i, x in zip(idx, w)}
        for i, x in self.last.get(key, {}).items():
            mixed[i] = mixed.get(i, 0.0) + self.carry * x
        top = sorted(mixed.items(), key=lambda t: -t[1])[:k]
        total = sum(x for _, x in top) or 1.0
        self.last[key] = {i: x / total for i, x in top}
        return np.array([i for i, _ in top]), np.array([x / total for _, x in top], np.float32)

    def region_weights(self, bank: ExemplarBank, query: np.ndarray, track=None, k: int = K) -> dict:
        """``bank.region_neighbours`` of a face, steady per track and region: ``CARRY`` of the last frame's weights
        carries over (the ``k`` largest kept, their sum, which is the region's confidence, kept too)."""
        found = bank.region_neighbours(query, k)
        if track is None or not self.carry:
            return found
        out = {}
        for name, (idx, w) in found.items():
            key = (id(bank), track, name)
            mixed = {int(i): (1 - self.carry) * float(x) for i, x in zip(idx, w)}
            for i, x in self.last.get(key, {}).items():
                mixed[i] = mixed.get(i, 0.0) + self.carry * x
            top = sorted(mixed.items(), key=lambda t: -t[1])[:k]
            kept = sum(x for _, x in top)
            gain = sum(mixed.values()) / kept if kept > 0 else 0.0
            self.last[key] = {i: x * gain for i, x in top}
            out[name] = (np.array([i for i, _ in top], np.int64), np.array([x * gain for _, x in top], np.float32))
        return out


def bank_of(faces_dir: str | Path, images: np.ndarray) -> ExemplarBank:
    """The bank of a face set's KEPT faces, given their crops ``images`` (N, S, S, 3) uint8 in
    ``faceset.load_training_arrays``' order: the landmarks, sources and times come from its index."""
    from swaplab.face.faceset import FaceSet

    fs = FaceSet(faces_dir)
    rows = fs.kept()
    if len(rows) != len(images):
        raise ValueError(f"{faces_dir}: {len(rows)} kept faces but {len(images)} crops given: load them together")
    landmarks = align.rescale_points(np.array([r["landmarks"] for r in rows]), fs.face_size, images.shape[1])
    names = sorted({r["source"] for r in rows})
    sources = [names.index(r["source"]) for r in rows]
    bank = ExemplarBank.from_arrays(images, landmarks, sources, [r.get("time", 0.0) or 0.0 for r in rows])
    bank.names = names
    return bank


def pooled(banks: list[ExemplarBank]) -> ExemplarBank:
    """One bank of several people's (pretraining pools them): their sources kept apart."""
    sources, offset = [], 0
    for b in banks:
        sources.append(b.sources + offset)
        offset += int(b.sources.max(initial=-1)) + 1
    meshes = None if any(b.mesh is None for b in banks) else np.concatenate([b.mesh for b in banks])
    return ExemplarBank([j for b in banks for j in b.jpegs], np.concatenate([b.points for b in banks]), banks[0].size,
                        np.concatenate(sources), np.concatenate([b.times for b in banks]), names=[n for b in banks for n in b.names],
                        mesh=meshes)


def _centred(points: np.ndarray) -> np.ndarray:
    """(N, P, 2) points less each set's mean: the shape, wherever it sits (the warp moves it there)."""
    return points - points.mean(1, keepdims=True)


def _distance(sets: np.ndarray, one: np.ndarray) -> np.ndarray:
    """(N,) mean point distance of each centred (P, 2) set to ``one``."""
    return np.sqrt(((sets - one) ** 2).sum(-1)).mean(1)


def _box(points: np.ndarray, size: int, pad: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the box of ``points`` grown by ``pad`` of its side, inside a ``size`` px image."""
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    px, py = pad * (x1 - x0), pad * (y1 - y0)
    return (max(int(x0 - px), 0), max(int(y0 - py), 0), min(int(np.ceil(x1 + px)) + 1, size), min(int(np.ceil(y1 + py)) + 1, size))


def region_masks(landmarks: np.ndarray, size: int) -> dict:
    """{region: ((x0, y0, x1, y1), (h, w) float32 mask in [0, 1] over that box)} of a face's (478, 2) landmarks at
    ``size`` px: each region's hull grown by ``FEATHER`` of its span and feathered over as much again."""
    out = {}
    for name, idx in REGIONS.items():
        pts = np.asarray(landmarks, np.float64)[idx]
        grow = max(1.0, FEATHER * float(np.ptp(pts, 0).max()))
        pad = int(np.ceil(2.5 * grow)) + 1
        x0, y0 = (max(int(np.floor(c)) - pad, 0) for c in pts.min(0))
        x1, y1 = (min(int(np.ceil(c)) + pad + 1, size) for c in pts.max(0))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        hull = cv2.convexHull(np.round((pts - (x0, y0)) * 4).astype(np.int32))
        cv2.fillConvexPoly(m, hull, 255, cv2.LINE_8, 2)
        r = max(int(round(grow / 2)), 1)
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        out[name] = ((x0, y0, x1, y1), cv2.GaussianBlur(m.astype(np.float32) * (1 / 255), (0, 0), grow / 2))
    return out


MIN_COVERAGE = 0.5  # a bank whose exemplars find exemplars of their own for less than this share is not used


def usable(bank: ExemplarBank | None, who: str) -> ExemplarBank | None:
    """``bank``, or None (with one line saying why) when too few of its faces have exemplars from other clips or
    moments to train the detail net to use them (one short clip): the run then trains and swaps without."""
    if bank is None or (share := bank.coverage()) >= MIN_COVERAGE:
        return bank
    print(f"{who}: only {100 * share:.0f} % of the {len(bank)} faces have exemplars from another clip or {GAP_S:g} s "
          "away, too few to learn from: the detail stage goes on without exemplars (add footage from other clips)",
          flush=True)
    return None
