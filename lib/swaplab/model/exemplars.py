"""A person's exemplars: their own face-set crops, found by expression and pose, whose fine detail the detail stage is given.

The autoencoder's face is soft (it is small and, on a CPU, far from trained); the face set
holds the person's real eyes, lids, brows and lips at 256 px, in hundreds of expressions and
poses. A frame's landmarks (aligned, so only expression and pose remain) find the crops of the
target person that look most like it (``ExemplarBank.neighbours``), and their **detail** (each
crop minus its Gaussian blur of ``SIGMA`` px at the decoder's size: what a 64 px face cannot
hold) is blended by how near each is (``ExemplarBank.detail``). The detail net
(``swaplab.model.detail``) gets it beside the decoder's face and learns where to trust it.

- **Whose landmarks.** For a swap A -> B the query is A's own aligned landmarks: B's crops whose
  features sit where A's are, which is where the decoder draws them (``Cascade.exemplar_detail``
  says what moving them onto B's face shape first cost).
- **No pixel of the input.** Only the frame's landmarks, which the swap uses anyway to align
  and paste, reach the bank; the detail comes from the target person's own footage.
- **Steady in video.** ``Blender`` carries part of each track's last weights into the next
  frame, so the exemplars fade into each other rather than jump (a scene cut starts over).
- **Self-contained runs.** A bank is saved into the run (``save``: the crops as JPEG, their
  landmarks, at most ``BANK_MAX`` of them, spread over the set), so a run swaps without its
  face sets, on another machine or in Colab.
- **Training pairs.** ``neighbours_of_each`` finds each face's exemplars among faces of the
  set from OTHER sources (or more than ``GAP_S`` seconds away in the same source): the net
  learns from exemplars as far from the face as a held-back clip's will be, not its own
  neighbouring frames.
"""

from __future__ import annotations

import zipfile
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from swaplab.face import align
from swaplab.face.metrics import INNER_FACE

K = 4  # exemplars blended per face
TAU = 1.0  # px of mean landmark distance at the bank's size: weights fall as exp(-(d - d_nearest) / TAU)
SIGMA = 2.0  # px at the decoder's size: an exemplar's detail is what a Gaussian blur of this sigma takes away
BANK_MAX = 2000  # exemplars kept per person in a run (a spread subsample of a bigger face set)
GAP_S = 2.0  # s: a training face's exemplars come from other sources, or from this far away in its own
CARRY = 0.5  # share of a track's last weights carried into the next frame (0: none)
JPEG_QUALITY = 95


class ExemplarBank:
    """One person's crops at ``size`` px (JPEG bytes, decoded on demand) and their inner-face landmarks.

    ``points``: (N, 90, 2) float32, the ``INNER_FACE`` landmarks at ``size``; ``sources``/``times``: where each
    crop came from (``others``: the exemplars a face of the set may take in training).
    """

    def __init__(self, jpegs: list[bytes], points: np.ndarray, size: int, sources=None, times=None, cache: int = 256,
                 names=()):
        self.jpegs, self.size = list(jpegs), int(size)
        self.names = [str(n) for n in names]  # source index -> the source's name in the face set (provenance.json)
        self.points = np.asarray(points, np.float32)
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
        return cls(jpegs, np.asarray(landmarks, np.float32)[:, INNER_FACE], images.shape[1], sources, times)

    def subsample(self, n: int = BANK_MAX, seed: int = 0) -> "ExemplarBank":
        """At most ``n`` exemplars: a quarter by farthest-point sampling, so the set's rarest expressions and poses
        stay, the rest at random, so the common ones stay as dense as in training."""
        if len(self) <= n:
            return self
        flat = self.points.reshape(len(self), -1)
        chosen, dist = [0], np.linalg.norm(flat - flat[0], axis=1)
        for _ in range(n // 4 - 1):
            chosen.append(int(dist.argmax()))
            dist = np.minimum(dist, np.linalg.norm(flat - flat[chosen[-1]], axis=1))
        rest = np.setdiff1d(np.arange(len(self)), chosen)
        chosen = np.sort(np.concatenate([chosen, np.random.default_rng(seed).choice(rest, n - len(chosen), replace=False)]))
        return ExemplarBank([self.jpegs[i] for i in chosen], self.points[chosen], self.size, self.sources[chosen],
                            self.times[chosen], names=self.names)

    def coverage(self) -> float:
        """Share of the exemplars that have exemplars of their own in training (``neighbours_of_each``: from other
        sources or ``GAP_S`` away): below about half, the detail net cannot learn to use them."""
        if not len(self):
            return 0.0
        return float(np.mean([self.others(i).any() for i in range(len(self))]))

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

        A face with no such exemplar gets none (weights 0): the net then learns that case too."""
        idx = np.zeros((len(self), k), np.int64)
        w = np.zeros((len(self), k), np.float32)
        for i in range(len(self)):
            j, wj = self.neighbours(self.points[i], k, self.others(i))
            idx[i, :len(j)], w[i, :len(j)] = j, wj
        return idx, w

    # ------------------------------------------------------------ drawing

    def image(self, i: int) -> np.ndarray:
        """(S, S, 3) uint8 RGB: exemplar ``i``."""
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(self.jpegs[i], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def _fine(self, i: int, in_size: int) -> np.ndarray:
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
        """(S, S, 3) float32: the weighted fine detail of exemplars ``idx`` (zeros for none)."""
        out = np.zeros((self.size, self.size, 3), np.float32)
        for i, w in zip(idx, weights):
            if w > 0:
                out += w * self._fine(int(i), in_size)
        return out

    # ------------------------------------------------------------ on disk

    def save(self, path: str | Path) -> Path:
        """One .npz (atomic): the JPEGs end to end with their offsets, the landmarks, sources and times."""
        from swaplab.core.files import atomic_path

        offsets = np.cumsum([0] + [len(j) for j in self.jpegs]).astype(np.int64)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, data=np.frombuffer(b"".join(self.jpegs), np.uint8), offsets=offsets, points=self.points,
                     sources=self.sources, times=self.times, size=np.int32(self.size),
                     names=np.array(self.names, dtype=str))
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
                           z["times"], names=z["names"].tolist() if "names" in z.files else ())
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise OSError(f"{path} is damaged ({(str(e).splitlines() or [type(e).__name__])[0][:100]}): delete it (the run "
                          "then swaps without exemplars, softer), or restore a copy; training this RUN's detail stage on "
                          "(a higher DETAIL_STEPS or TIME_BUDGET_MIN) writes it again from the face set") from None


class Blender:
    """The exemplar detail of each face of a video, steady from frame to frame: per track, ``CARRY`` of the last
    frame's weights carries over (renormalised, the ``k`` largest kept), so exemplars fade instead of jumping."""

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
    return ExemplarBank([j for b in banks for j in b.jpegs], np.concatenate([b.points for b in banks]), banks[0].size,
                        np.concatenate(sources), np.concatenate([b.times for b in banks]), names=[n for b in banks for n in b.names])


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
