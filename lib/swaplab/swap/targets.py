"""Which faces of a frame to swap: face tracks across frames, and the choice of target.

MediaPipe returns every face of a frame (up to ``max_faces``). ``Tracker`` links
them into tracks (a face belongs to the track whose last box it overlaps most),
so that a person keeps their track, their landmark smoothing and their identity
decision from frame to frame, and a face missed for a few frames (a hand, a
blink of the detector) picks its track up again instead of starting over.

``target`` chooses what is swapped:

- "identity" (the default): the faces whose identity matches the source person
  (A for "a2b"). A track is embedded with dlib (``identity.Embedder``, ~0.1-0.3 s)
  when it starts and twice more in its first ``EMBED_AT`` frames; its decision is
  made on the mean of those embeddings against the source's centroid. Frames in
  between cost nothing: identity is never computed per frame.
- "largest": one track, the largest face when nothing is chosen yet; the choice
  sticks while that track lives (a brief miss swaps nothing rather than another face).
- "all": every face.

Faces not chosen are left alone: nothing is pasted outside the chosen faces' masks.
A scene cut (``cuts``) calls ``reset``: tracks, smoothing and identity start over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swaplab.swap.smoothing import FaceSmoother

TARGETS = ("identity", "largest", "all")
EMBED_AT = (0, 6, 12)  # track ages (frames seen) at which a track is embedded for the identity choice
MAX_MISSED = 12  # frames a track survives without its face (~0.5 s at 25 fps)
MIN_IOU = 0.2  # a face continues a track when their boxes overlap at least this much


@dataclass
class Track:
    id: int
    box: np.ndarray  # (4,) float64 x0, y0, x1, y1 in frame px, last seen
    smoother: FaceSmoother | None
    age: int = 0  # frames in which the face was seen
    missed: int = 0  # consecutive frames without it
    embeddings: list = field(default_factory=list)  # (128,) float32 each
    distance: float | None = None  # mean embedding's distance to the source identity
    kind: str = "other"  # "source" / "other" (identity), "largest" / "other", or "face" ("all")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def source_identity(source) -> np.ndarray:
    """(128,) float32 identity of the source person from ``source``:

    a face set folder (``data/<project>/<person>/faces``: its stored embeddings of kept
    faces, else up to 32 kept crops embedded now), an (N, S, S, 3) uint8 array of
    aligned crops, (N, 128) embeddings, or a (128,) embedding.
    """
    from swaplab.face import identity

    if isinstance(source, (str, Path)):
        return identity.centroid(_face_set_vectors(Path(source)))
    arr = np.asarray(source)
    if arr.shape == (128,):
        return arr.astype(np.float32)
    if arr.ndim == 2 and arr.shape[1] == 128:
        return identity.centroid(arr)
    if arr.ndim == 4 and arr.shape[-1] == 3 and len(arr):
        pick = np.linspace(0, len(arr) - 1, min(len(arr), 32)).round().astype(int)
        return identity.centroid(identity.Embedder().embed_crops(arr[pick]))
    raise ValueError(f"source of shape {arr.shape}: give a face set folder, (N, S, S, 3) aligned crops, "
                     "(N, 128) embeddings or one (128,) embedding")


def _face_set_vectors(faces_dir: Path) -> np.ndarray:
    from swaplab.face import faceset, identity

    fs = faceset.FaceSet(faces_dir)  # raises "run 02_align" when the folder is missing
    kept = fs.kept()
    if not kept:
        raise ValueError(f"{faces_dir} has no kept faces: the source person's identity is unknown; "
                         "run 02_align for them or use TARGET='largest'")
    stored = fs.embeddings()
    vectors = [stored[Path(r["file"]).stem] for r in kept if Path(r["file"]).stem in stored]
    if len(vectors) >= min(10, len(kept)):
        return np.stack(vectors).astype(np.float32)
    pick = np.linspace(0, len(kept) - 1, min(len(kept), 32)).round().astype(int)
    return identity.Embedder().embed_crops([fs.image(kept[i]) for i in pick])


class Tracker:
    """Faces of consecutive frames -> tracks -> the faces to swap.

    ``reference``: the source's (128,) identity (``source_identity``), needed for
    "identity". ``smoothing``: (min_cutoff Hz, beta) of each track's One-Euro
    filters (``FaceSmoother``: rigid motion and expression apart), or None. ``counts`` and ``swapped`` tally faces seen and swapped by kind;
    ``tracks_seen`` counts distinct tracks by kind.
    """

    def __init__(self, target: str = "identity", reference: np.ndarray | None = None,
                 smoothing: tuple[float, float] | None = (1.0, 5.0), threshold: float | None = None):
        from swaplab.face import identity

        if target not in TARGETS:
            raise ValueError(f"TARGET={target!r}: choose one of {TARGETS}")
        if target == "identity" and reference is None:
            raise ValueError("TARGET='identity' needs the source person's face set (run 02_align for them), "
                             "or choose TARGET='largest' or 'all'")
        self.target, self.smoothing = target, smoothing
        self.reference = None if reference is None else np.asarray(reference, np.float32)
        self.threshold = identity.SAME_PERSON if threshold is None else float(threshold)
        self._embedder = None
        self.tracks: list[Track] = []
        self._next_id = 0
        self.counts: dict[str, int] = {}
        self.swapped: dict[str, int] = {}
        self.tracks_seen: dict[str, set] = {}
        self.embedded = 0  # embeddings computed (the cost of "identity")

    def reset(self) -> None:
        """Forget every track (a scene cut): the next faces start new tracks and new decisions."""
        self.tracks = []

    def update(self, image: np.ndarray, faces: list, t: float) -> list[tuple[Track, np.ndarray, np.ndarray]]:
        """(track, smoothed (478, 2) float64, raw (478, 2) float64) for the faces to swap in this frame.

        ``faces``: (landmarks (478, 2) in frame px, size px) for each face found in ``image``,
        the RGB frame they were found in (full size; used to embed new tracks).
        """
        matched = self._match([np.asarray(lms, np.float64) for lms, _ in faces])
        chosen = []
        for track, (lms, size) in zip(matched, faces):
            raw = np.asarray(lms, np.float64)
            if self.target == "identity" and track.age in EMBED_AT:
                self._embed(track, image, raw)
            track.age += 1
            kind = self._kind(track)
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.tracks_seen.setdefault(kind, set()).add(track.id)
            if kind in ("source", "largest", "face"):
                smooth = track.smoother(raw, t, scale=size) if track.smoother is not None else raw
                self.swapped[kind] = self.swapped.get(kind, 0) + 1
                chosen.append((track, smooth, raw))
        return chosen

    def _match(self, landmarks: list[np.ndarray]) -> list[Track]:
        """The track of each face (new ones for faces that continue none); ages out lost tracks."""
        boxes = [np.concatenate([lms.min(0), lms.max(0)]) for lms in landmarks]
        pairs = sorted(((iou(b, tr.box), i, j) for i, b in enumerate(boxes) for j, tr in enumerate(self.tracks)),
                       reverse=True)
        out: list[Track | None] = [None] * len(boxes)
        used: set[int] = set()
        for score, i, j in pairs:
            if score < MIN_IOU:
                break
            if out[i] is None and j not in used:
                out[i], _ = self.tracks[j], used.add(j)
        for j, tr in enumerate(self.tracks):
            tr.missed = 0 if j in used else tr.missed + 1
        self.tracks = [tr for tr in self.tracks if tr.missed <= MAX_MISSED]
        for i, box in enumerate(boxes):
            if out[i] is None:
                out[i] = self._new_track(box)
            out[i].box = box
        if self.target == "largest" and out and not any(tr.kind == "largest" for tr in self.tracks):
            max(out, key=lambda tr: _area(tr.box)).kind = "largest"  # the choice sticks while this track lives
        return out  # type: ignore[return-value]

    def _new_track(self, box: np.ndarray) -> Track:
        smoother = FaceSmoother(*self.smoothing) if self.smoothing else None
        track = Track(self._next_id, box, smoother)
        self._next_id += 1
        self.tracks.append(track)
        return track

    def _kind(self, track: Track) -> str:
        if self.target == "all":
            return "face"
        if self.target == "identity":
            ok = track.distance is not None and track.distance < self.threshold
            track.kind = "source" if ok else "other"
        return track.kind

    def _embed(self, track: Track, image: np.ndarray, landmarks: np.ndarray) -> None:
        from swaplab.face import identity

        if self._embedder is None:
            self._embedder = identity.Embedder()
        track.embeddings.append(self._embedder.embed(image, landmarks))
        self.embedded += 1
        track.distance = identity.distance(np.mean(track.embeddings, 0), self.reference)

    def summary(self) -> dict:
        """{"faces_seen": {kind: n}, "faces_swapped": {kind: n}, "tracks": {kind: n}, "embedded": n}"""
        return {"faces_seen": dict(self.counts), "faces_swapped": dict(self.swapped),
                "tracks": {k: len(v) for k, v in self.tracks_seen.items()}, "embedded": self.embedded}


def _area(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))
