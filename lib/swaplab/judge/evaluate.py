"""Swap metrics: how much a swapped video looks like the target, and how much it still moves like the input.

05_evaluate checks its parameters in one call, ``EvalConfig.from_parameters(globals()).validate()``:
names, direction and numbers first, then it finds every file before the slow
work (the input, the swap ``locate_swap`` finds, both face sets, the other
identities, the trained run) and keeps them on the config (``input_path``,
``swap``, ``faces``, ``others``, ``run_dir``, ``metrics_json``, ...).

``evaluate_swap(input_video, swapped_video, faces_dir_source, faces_dir_target)``
reads the input range and the swapped video frame by frame (the right half of a
side-by-side output), finds the face in both with MediaPipe (``_measure_frames``), adds each pair to a
per-frame accumulator (``_Frames``) and summarises its lists (``_summarise``):

- detail: the variance of the Laplacian over the inner face (brows, eyes, nose,
  mouth: the input's landmark box, resized to ``DETAIL_SIZE``) of the swapped
  frame over the input's (``inner_face_detail``). 1 = as much fine detail as
  the input; a re-encoded copy keeps ~0.95, a Gaussian blur of sigma 1.5 ~0.25.
  This is the number that sees a soft swap, which identity and pose do not.
  For a swap to another person it is an upper bound: another face's darker
  features and the stretched model's grain carry Laplacian energy that is not
  detail (docs/ablation.md, "blind spot").
- detail structure: where the fine detail is, not how much (``detail_structure``):
  the correlation of the swapped and input inner faces' detail maps at the
  frame's resolution. Neither contrast nor evenly spread grain can raise it.
  It is calibrated on the footage itself: the input blurred with each sigma of
  ``BLUR_LADDER`` is scored the same way, and ``detail_blur_sigma`` is the blur
  whose score the swap's matches (0 = as sharp as the input). For a swap to
  another person it is a lower bound (the other face's features sit elsewhere),
  so with the detail ratio it brackets how sharp the swap is.
- face SSIM: SSIM between input and swapped frame over the face box at the
  frame's own resolution. For a self-swap (``a2a``/``b2b``: A through A's own
  decoder, pasted back) it is the ceiling of any swap the model makes; for a
  swap to another person it only says how much of the frame changed.
- identity: dlib descriptor (``swaplab.face.identity``) of each swapped face against
  the centroids of N identities (the TARGET, the SOURCE, and every other
  person or distractor face set given): retrieval = share of frames whose
  nearest centroid is the target's (chance is 1/N, not 1/2). The distance to
  the target is also compared with the spread of the target's own faces
  (``within_target_spread``). The input faces are scored too, as a check that
  the galleries tell the people apart.
- pose error: mean |yaw|, |pitch|, |roll| difference in degrees, input vs swapped.
- expression error: L2 between the 52 blendshape scores, and |difference| for
  the ``EXPRESSION_KEYS`` (jaw open, smiles, blinks, brows).
- stability: landmark jitter (frame-to-frame acceleration of the landmarks over
  the face size) and the mean grey-level change inside the input's face hull
  from one frame to the next, for both videos and as the ratio swapped / input.
- faces found: share of the input's face frames in which the swap still has one.

``reconstruction_metrics(model, faces, side, masks)`` scores A->A or B->B on faces
the model never trained on (SSIM, PSNR), at the crops' own scale: uint8 crops go to
``SwapModel.reconstruct`` as they are (it converts them) and its output is scaled
to 0..255. The figures of a result (per-frame curves, frame and face strips) are
drawn by ``swaplab.judge.figures``.

A metric that cannot be measured (a swap with no face left in it) is ``None``
in the summary with its reason in ``result["reasons"]``; nothing raises for it.
Per-frame lists hold ``None`` where a frame has no value, so a result is valid
JSON as it is (``write_metrics``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swaplab.core import files, paths, video
from swaplab.core.params import Parameters
from swaplab.face import metrics
from swaplab.face.landmarks import EXPRESSION_KEYS

# What the demo aims for; the notebook prints reached vs target. The fine detail of a self-swap must reach
# what a PERFECT 64 px model scores on the same frames (``ceiling64_fine``): the autoencoder alone cannot.
TARGETS = {"identity_retrieval": 0.95, "pose_error_deg": 3.0, "detail_fine": "ceiling64_fine"}
HIGHER_IS_BETTER = {"identity_retrieval", "detail_fine"}
CEILINGS = {f"ceiling{n}": n for n in metrics.CEILING_SIZES}  # summary key -> px of the perfect model scored beside the swap
SPREAD_QUANTILE = 0.9  # a swapped face "within the target's spread" is as close to B's centroid as 90 % of B's own faces
# dlib's ResNet (no BLAS in the dlib-bin wheel) takes 0.1-0.3 s a face on a 2-core CPU, so embed samples:
GALLERY_MIN = 10  # a face set with fewer faces already embedded by 02_align (~1 in 10) gets more embedded here
GALLERY_MAX = 32  # faces embedded for a centroid (one face sits ~0.35 from it; 32 pin it to ~0.06)
IDENTITY_FRAMES = 40  # swapped faces embedded per video, spread evenly (40 give retrieval to +-5 %)
INPUT_ID_EVERY = 4  # of those frames, embed the input in one in 4: it only checks that the galleries differ


# ---------------------------------------------------------------- galleries


def gallery(faces, embedder, max_faces: int = GALLERY_MAX) -> dict:
    """{"centroid": (128,), "faces": n, "spread": distance within which SPREAD_QUANTILE of the person's own faces lie}.

    ``faces`` as in ``gallery_centroid``. The spread says how far from the centroid
    a real face of this person sits; a swapped face farther out looks less like
    the person than nearly all of their own footage does.
    """
    from swaplab.face import identity

    vectors = _gallery_vectors(faces, embedder, max_faces)
    c = identity.centroid(vectors)
    d = identity.distance(vectors, c[None])
    return {"centroid": c, "faces": len(vectors), "spread": float(np.quantile(d, SPREAD_QUANTILE))}


def other_identities(data_dir: str | Path, project: str, exclude, distractors=()) -> dict[str, Path]:
    """{name: faces dir} for the N-way identity vote: every person of ``project`` with a face set
    except ``exclude`` (the source and the target), plus ``distractors`` (faces/ folders of 02_align)."""
    found = {d.parent.name: d for d in sorted(paths.project_dir(data_dir, project).glob("*/faces"))
             if d.parent.name not in set(exclude) and (d / "summary.json").exists()}
    for extra in distractors:
        extra = Path(extra)
        if not (extra / "summary.json").exists():
            raise FileNotFoundError(f"DISTRACTORS: {extra} is not a face set (no summary.json): give faces/ folders made by 02_align")
        found[f"{extra.parent.name}@{extra.parent.parent.name}"] = extra
    return found


def _gallery_vectors(faces, embedder, max_faces: int) -> np.ndarray:
    if isinstance(faces, (str, Path)):
        return _face_set_embeddings(Path(faces), embedder, max_faces)
    crops = np.asarray(faces)
    if len(crops) == 0:
        raise ValueError("the gallery holds no faces: give at least one aligned crop")
    pick = np.linspace(0, len(crops) - 1, min(len(crops), max_faces)).round().astype(int)
    return embedder.embed_crops(crops[pick])


def gallery_centroid(faces, embedder, max_faces: int = GALLERY_MAX) -> tuple[np.ndarray, int]:
    """(centroid (128,) float32, faces used) of one person's gallery.

    ``faces``: a face set folder (``data/<project>/<person>/faces``) or an
    (N, S, S, 3) uint8 array of aligned crops. A face set's kept faces that
    02_align already embedded are used as they are (free); only when it holds
    fewer than ``GALLERY_MIN`` are up to ``max_faces`` kept crops, spread over
    the set, embedded here.
    """
    from swaplab.face import identity

    vectors = _gallery_vectors(faces, embedder, max_faces)
    return identity.centroid(vectors), len(vectors)


_EMBEDDED: dict[tuple, np.ndarray] = {}  # (face set, its index's mtime, max_faces) -> vectors: probes re-score often


def _face_set_embeddings(faces_dir: Path, embedder, max_faces: int) -> np.ndarray:
    """(N, 128) float32 descriptors of a face set's kept faces: stored ones, or embedded now if too few are."""
    index = faces_dir / "index.jsonl"
    key = (str(faces_dir.resolve()), index.stat().st_mtime_ns if index.exists() else None, max_faces)
    if key not in _EMBEDDED:
        _EMBEDDED[key] = _embed_face_set(faces_dir, embedder, max_faces)
    return _EMBEDDED[key]


def _embed_face_set(faces_dir: Path, embedder, max_faces: int) -> np.ndarray:
    from swaplab.face import faceset

    fs = faceset.FaceSet(faces_dir)  # raises "run 02_align" when the folder is missing
    kept = fs.kept()
    if not kept:
        raise ValueError(f"{faces_dir} has no kept faces (all {len(fs.rows)} were dropped): "
                         "loosen 02_align's filters or add sources for this person")
    stored = fs.embeddings()  # {crop stem: (128,)}
    vectors = [stored[Path(r["file"]).stem] for r in kept if Path(r["file"]).stem in stored]
    if len(vectors) >= min(GALLERY_MIN, len(kept)):
        return np.stack(vectors).astype(np.float32)

    def vector(row: dict) -> np.ndarray:
        stem = Path(row["file"]).stem
        return stored[stem] if stem in stored else embedder.embed_crop(fs.image(row))

    pick = np.linspace(0, len(kept) - 1, min(len(kept), max_faces)).round().astype(int)
    return np.stack([vector(kept[i]) for i in pick]).astype(np.float32)


# ---------------------------------------------------------------- which swap to score


def locate_swap(data_dir: str | Path, project: str, input_video: str | Path, direction: str, swapped: str | Path = "") -> dict:
    """{"swapped": Path, "start": s, "duration": s or None, "from": how it was found} for a swap of ``input_video``.

    ``swapped`` given: that file, range 0..end. Else 04_swap's report
    (``reports/04_swap.json``) when it describes this input and direction, with
    its range; else 04_swap's default ``output/<input stem>_<direction>.mp4``.
    """
    if swapped:
        found = {"swapped": Path(swapped), "start": 0.0, "duration": None, "from": "SWAPPED"}
    else:
        report = files.read_json(paths.reports_dir(data_dir, project) / "04_swap.json", default={})
        if report.get("output") and Path(report.get("input", "")).name == Path(input_video).name and report.get("direction") == direction:
            found = {"swapped": Path(report["output"]), "start": float(report.get("start") or 0.0),
                     "duration": report.get("duration"), "from": "reports/04_swap.json"}
        else:
            found = {"swapped": paths.output_file(data_dir, project, input_video, direction),
                     "start": 0.0, "duration": None, "from": "04_swap's default output path"}
    if not found["swapped"].exists():
        raise FileNotFoundError(f"{found['swapped']} (from {found['from']}) does not exist: run 04_swap on "
                                f"{Path(input_video).name} with DIRECTION={direction!r} first, or set SWAPPED")
    return found


# ---------------------------------------------------------------- 05_evaluate's parameters


@dataclass
class EvalConfig(Parameters):
    """05_evaluate's parameters (``EvalConfig.from_parameters(globals()).validate()``); defaults as in its parameters cell.

    ``validate()`` checks every name and finds every file before the measuring, so
    a typo fails in a second. It resolves: ``source``/``target`` (the person in
    INPUT and the person swapped in; the same for a self-swap), ``input_path`` and
    its probe ``input_info``, ``swap`` (``locate_swap``), ``faces`` ({person: face
    set}), ``others`` (the rest of the identity vote, ``other_identities``),
    ``run_dir``, ``reports`` and ``metrics_json`` (``reports/metrics_<direction>.json``).
    """

    project: str = "demo"  # one A/B experiment: data/<project>/ and weights/<project>/
    run: str = "main"  # the training run, scored on held-back faces
    input: str = "samples/grid/s2/pwij3p.mpg"  # a file, a sample key or a collected source's name
    swapped: str = ""  # "" = what 04_swap wrote for INPUT
    direction: str = "a2b"  # paths.DIRECTIONS
    person_a: str = "a"
    person_b: str = "b"
    distractors: list = field(default_factory=list)  # more faces/ folders for the identity vote
    identity_frames: int = IDENTITY_FRAMES
    holdout_faces: int = 32  # 0 skips reconstruction and the model
    data_dir: str = "../data"
    weights_dir: str = "../weights"
    interactive: bool = False
    source: str = field(init=False, default=None)
    target: str = field(init=False, default=None)
    input_path: Path = field(init=False, default=None)
    input_info: video.VideoInfo = field(init=False, default=None)
    swap: dict = field(init=False, default=None)  # {"swapped", "start", "duration", "from"}
    faces: dict = field(init=False, default=None)  # {person: faces dir} of PERSON_A and PERSON_B
    others: dict = field(init=False, default=None)  # {name: faces dir}
    run_dir: Path = field(init=False, default=None)
    reports: Path = field(init=False, default=None)
    metrics_json: Path = field(init=False, default=None)

    def validate(self) -> EvalConfig:
        """Check every field, then find the input, the swap, the face sets and the run; returns ``self``."""
        self._check_values()
        self._find_files()
        return self

    def _check_values(self) -> None:
        self.check_names("project", "run", "person_a", "person_b")
        paths.check_direction(self.direction)
        self.check_whole("holdout_faces", 0, why="0 skips reconstruction")
        self.check_whole("identity_frames", 1)
        self.check_folders(input="the video that was swapped: a file, a sample key or a source's name",
                           data_dir="the folder where projects live", weights_dir="the folder where runs live")
        if not isinstance(self.swapped, (str, Path)):
            self.bad("swapped", "give the swapped video's path, or \"\" for what 04_swap wrote for INPUT")
        if not isinstance(self.distractors, (list, tuple)) or not all(isinstance(d, (str, Path)) for d in self.distractors):
            self.bad("distractors", "give a list of faces/ folders made by 02_align, or []")
        self.check_flags("interactive")
        people = {"a": self.person_a, "b": self.person_b}
        self.source, self.target = people[self.direction[0]], people[self.direction[-1]]

    def _find_files(self) -> None:
        from swaplab.core import assets
        from swaplab.face import faceset
        from swaplab.model import runs

        self.input_path = assets.resolve_media(self.input, self.data_dir, self.project)
        self.input_info = self._naming("input", video.VideoError, video.probe, self.input_path)
        self.swap = locate_swap(self.data_dir, self.project, self.input_path, self.direction, self.swapped)
        self.faces = {p: paths.faces_dir(self.data_dir, self.project, p) for p in (self.person_a, self.person_b)}
        for name in ("person_a", "person_b"):  # "<dir> is empty: run 02_align for person <p> first"
            self._naming(name, FileNotFoundError, faceset.FaceSet, self.faces[getattr(self, name)])
        self.others = other_identities(self.data_dir, self.project, (self.source, self.target), self.distractors)
        self.run_dir = paths.run_dir(self.weights_dir, self.project, self.run)
        if self.holdout_faces and not runs.is_trained(self.run_dir):
            self.bad("run", f"{self.run_dir} has no trained run: train it with 03_train first, or set HOLDOUT_FACES=0",
                     FileNotFoundError)
        self.reports = paths.reports_dir(self.data_dir, self.project)
        self.metrics_json = self.reports / f"metrics_{self.direction}.json"

    def _naming(self, name: str, error: type[Exception], check, *args):
        """``check(*args)``; an ``error`` it raises is raised again as ``NAME=value: <its first line>``."""
        try:
            return check(*args)
        except error as e:
            why = str(e).splitlines()[0]
        self.bad(name, why, error)  # outside the except: one error, not a chain of two


# ---------------------------------------------------------------- the swap metrics


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _median(values) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.median(vals)) if vals else None


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den <= 0 else float(num / den)


class _Frames:
    """Per-frame accumulator of ``evaluate_swap``: one list per measure, None where a frame has no value."""

    KEYS = ("index", "time", "input_face", "swapped_face", "dist_target", "dist_source", "nearest", "input_dist_target",
            "input_dist_source", "input_nearest", "yaw_error", "pitch_error", "roll_error", "pose_error",
            "expression_error", "change_input", "change_swapped", "detail_input", "detail_swapped", "detail_ratio",
            *(f"{what}_{band}" for what in ("detail", *CEILINGS) for band in metrics.BANDS),
            *(f"ladder_{band}" for band in metrics.BANDS), "face_ssim")

    def __init__(self, galleries: dict[str, dict], target: str, source: str, embedder):
        self.pf: dict[str, list] = {k: [] for k in self.KEYS}
        self.key_errors: dict[str, list] = {k: [] for k in EXPRESSION_KEYS}
        self.lms = {"input": [], "swapped": []}
        self.sizes = {"input": [], "swapped": []}
        self.galleries, self.target, self.source, self.embedder = galleries, target, source, embedder
        self.prev: tuple[np.ndarray, np.ndarray] | None = None  # grey (H, W) float32 of the previous frames

    def add(self, frame, img_in, img_sw, face_in, face_sw, check: bool, check_input: bool) -> None:
        pf = self.pf
        pf["index"].append(frame.index)
        pf["time"].append(round(frame.time, 3))
        pf["input_face"].append(face_in is not None)
        pf["swapped_face"].append(face_sw is not None)
        for who, face in (("input", face_in), ("swapped", face_sw)):
            self.lms[who].append(None if face is None else face.landmarks)
            self.sizes[who].append(face.size if face else 0.0)
        self._identity("", face_sw if check else None, img_sw)
        self._identity("input_", face_in if check_input else None, img_in)
        self._pose(face_in, face_sw)
        self._pixels(img_in, img_sw, face_in)

    def _identity(self, who: str, face, img) -> None:
        from swaplab.face import identity

        if face is None:
            for k in ("dist_target", "dist_source", "nearest"):
                self.pf[who + k].append(None)
            return
        e = self.embedder.embed(img, face.landmarks)  # (128,) float32
        dists = {name: identity.distance(e, g["centroid"]) for name, g in self.galleries.items()}
        self.pf[who + "dist_target"].append(dists[self.target])
        self.pf[who + "dist_source"].append(dists[self.source])
        self.pf[who + "nearest"].append(min(dists, key=dists.get))

    def _pose(self, face_in, face_sw) -> None:
        both = face_in is not None and face_sw is not None
        errs = [abs(face_in.yaw - face_sw.yaw), abs(face_in.pitch - face_sw.pitch), abs(face_in.roll - face_sw.roll)] if both else [None] * 3
        for k, v in zip(("yaw_error", "pitch_error", "roll_error"), errs):
            self.pf[k].append(v)
        self.pf["pose_error"].append(float(np.mean(errs)) if both else None)
        self.pf["expression_error"].append(float(np.linalg.norm(face_in.blendshapes - face_sw.blendshapes)) if both else None)
        for k in EXPRESSION_KEYS:
            self.key_errors[k].append(abs(face_in.blendshape(k) - face_sw.blendshape(k)) if both else None)

    def _pixels(self, img_in, img_sw, face_in) -> None:
        """Detail, ceilings, face SSIM and frame-to-frame change, all in the INPUT face's regions (the swap is pasted there)."""
        pf = self.pf
        box = None if face_in is None else metrics.inner_face_box(face_in.landmarks, img_in.shape)
        self._detail(img_in, img_sw, face_in, box)
        ssim = None if face_in is None else metrics.face_box_ssim(img_in, img_sw, face_in.landmarks)
        pf["face_ssim"].append(None if ssim is None or np.isnan(ssim) else ssim)
        grey = (img_in.mean(-1, dtype=np.float32), img_sw.mean(-1, dtype=np.float32))  # (H, W) in [0, 255]
        if self.prev is not None and face_in is not None:
            # the same region (the input's face hull) in both: flicker of the pasted face, not of the background
            mask = metrics.hull_mask(face_in.landmarks, img_in.shape)
            pf["change_input"].append(float(np.abs(grey[0] - self.prev[0])[mask].mean()))
            pf["change_swapped"].append(float(np.abs(grey[1] - self.prev[1])[mask].mean()))
        else:
            pf["change_input"].append(None)
            pf["change_swapped"].append(None)
        self.prev = grey

    def _detail(self, img_in, img_sw, face_in, box) -> None:
        """Band detail of the swap against the input, its blur ladder, and what perfect models score on this frame."""
        pf = self.pf
        d_in = d_sw = None
        scores = {what: {} for what in ("detail", *CEILINGS)}
        ladders: dict = {}
        if box is not None:
            d_in, d_sw = metrics.inner_face_detail(img_in, box), metrics.inner_face_detail(img_sw, box)
            where = metrics.inner_face_mask(face_in.landmarks, box)
            swap = metrics.band_detail(img_sw, img_in, box, where=where)
            scores["detail"] = swap
            ladders = {band: swap[f"{band}_ladder"] for band in metrics.BANDS}
            for what, size in CEILINGS.items():
                perfect = metrics.perfect_paste(img_in, face_in.landmarks, size, box)
                scores[what] = metrics.band_detail(perfect, img_in, box, (), where)
        pf["detail_input"].append(d_in)
        pf["detail_swapped"].append(d_sw)
        pf["detail_ratio"].append(_ratio(d_sw, d_in))
        for what, bands in scores.items():
            for band in metrics.BANDS:
                pf[f"{what}_{band}"].append(bands.get(band))
        for band in metrics.BANDS:
            pf[f"ladder_{band}"].append(ladders.get(band))

    def finish(self) -> dict[str, list]:
        self.pf["jitter_input"] = metrics.landmark_jitter(self.lms["input"], self.sizes["input"])
        self.pf["jitter_swapped"] = metrics.landmark_jitter(self.lms["swapped"], self.sizes["swapped"])
        return self.pf


def evaluate_swap(
    input_video: str | Path,
    swapped_video: str | Path,
    faces_dir_source: str | Path,
    faces_dir_target: str | Path,
    start: float = 0.0,
    duration: float | None = None,
    every: int = 1,
    identity_frames: int = IDENTITY_FRAMES,
    embedder=None,
    progress: bool = True,
    others: dict | None = None,
) -> dict:
    """Measure a swap frame by frame; returns ``{"summary", "per_frame", "reasons", ...}`` (JSON-ready).

    ``start``/``duration`` (seconds) are the INPUT range that 04_swap converted:
    the swapped video starts at that range's first frame. ``every`` scores one
    frame in ``every`` of both; identity is measured on at most ``identity_frames`` of
    them, spread evenly. ``faces_dir_source``/``faces_dir_target``: the face sets
    (or crop arrays, see ``gallery_centroid``) of the person in the input and of
    the person swapped in; the same for a self-swap (``a2a``). ``others``: {name:
    face set or crops} of more identities for the N-way identity vote (every
    other person of the project, distractors).
    ``embedder``: a ``swaplab.face.identity.Embedder`` to reuse (one is made if None).
    """
    from swaplab.face import identity

    t0 = time.time()
    input_info, swapped_info = video.probe(input_video), video.probe(swapped_video)
    side_by_side = video.side_by_side_layout(input_info, swapped_info)
    embedder = embedder or identity.Embedder()
    galleries = _galleries(faces_dir_source, faces_dir_target, others, embedder)
    source = "source" if "source" in galleries else "target"  # a self-swap: the input's person is the target
    frames = _Frames(galleries, "target", source, embedder)
    warnings = _measure_frames(frames, input_video, swapped_video, input_info, side_by_side, start, duration, every,
                               identity_frames, progress)
    pf = frames.finish()
    if not pf["index"]:
        raise video.VideoError(f"no frame pairs could be read from {input_video} and {swapped_video}: check the time range")
    summary, reasons = _summarise(pf, frames.key_errors, galleries)
    return {
        "input": str(input_video),
        "swapped": str(swapped_video),
        "side_by_side": side_by_side,
        "start": start,
        "duration": duration,
        "every": every,
        "gallery_faces": {name: g["faces"] for name, g in galleries.items()},
        "gallery_spread": {name: g["spread"] for name, g in galleries.items()},
        "summary": summary,
        "reasons": reasons,
        "warnings": warnings,
        "per_frame": pf,
        "expression_error_per_key": frames.key_errors,
        "seconds": round(time.time() - t0, 2),
    }


def _galleries(faces_source, faces_target, others: dict | None, embedder) -> dict[str, dict]:
    """{"target", "source" (left out for a self-swap), "other:<name>"...: ``gallery``}: the N identities of the vote."""
    galleries = {"target": gallery(faces_target, embedder)}
    if faces_source is not None and str(faces_source) != str(faces_target):
        galleries["source"] = gallery(faces_source, embedder)
    for name, faces in (others or {}).items():
        galleries[f"other:{name}"] = gallery(faces, embedder)
    return galleries


def _measure_frames(frames: _Frames, input_video, swapped_video, input_info, side_by_side: bool, start: float,
                    duration: float | None, every: int, identity_frames: int, progress: bool) -> list[str]:
    """Feed ``frames`` every pair of (input, swapped) frames of the range; returns the warnings of the pairing."""
    from tqdm.auto import tqdm

    from swaplab.face.landmarks import Landmarker

    size = (input_info.width, input_info.height)
    reader_in = video.FrameReader(input_video, start=start, duration=duration, every=every)
    reader_sw = video.FrameReader(swapped_video, start=0.0, duration=duration, every=every)
    total = max(1, int((duration or input_info.duration - start) * input_info.fps / every + 0.5))
    id_stride = max(1, -(-total // max(1, identity_frames)))  # ceil: at most ~identity_frames embeddings
    # Two trackers: VIDEO mode follows one clip each, with increasing timestamps.
    with Landmarker("video", num_faces=1) as lm_in, Landmarker("video", num_faces=1) as lm_sw:
        for i, (f_in, f_sw) in enumerate(tqdm(zip(reader_in, reader_sw), total=total, desc="evaluate", disable=not progress)):
            img_sw = video.swapped_picture(f_sw.image, side_by_side, size)  # (H, W, 3) uint8, the input's size
            ts = int(round(f_in.time * 1000))
            face_in = next(iter(lm_in.detect(f_in.image, ts)), None)
            face_sw = next(iter(lm_sw.detect(img_sw, ts)), None)
            frames.add(f_in, f_in.image, img_sw, face_in, face_sw, i % id_stride == 0, i % (id_stride * INPUT_ID_EVERY) == 0)
    if reader_in.frames_read == reader_sw.frames_read:
        return []
    return [f"the input range has {reader_in.frames_read} frames, the swapped video {reader_sw.frames_read}: "
            f"scored the first {len(frames.pf['index'])} of each; check START/DURATION match those given to 04_swap"]


def _summarise(pf: dict[str, list], key_errors: dict[str, list], galleries: dict[str, dict]) -> tuple[dict, dict]:
    """The summary numbers from the per-frame lists, and why any of them is None."""
    n = len(pf["index"])
    n_in = sum(pf["input_face"])
    n_both = sum(a and b for a, b in zip(pf["input_face"], pf["swapped_face"]))
    reasons: dict[str, str] = {}
    s: dict = {"frames": n, "input_faces_found": n_in / n, "faces_found": n_both / n_in if n_in else None,
               "self_swap": "source" not in galleries}  # the input's person drawn by their own decoder: a full reference
    if not n_in:
        reasons["faces_found"] = "no face was detected in the input video: check INPUT and the time range"
    if not any(pf["swapped_face"]):
        reasons["identity"] = "no face was detected in the swapped video: the swap did not produce a face (see 04_swap)"

    nearest = [x for x in pf["nearest"] if x is not None]
    s["identity_candidates"] = len(galleries)
    s["identity_frames"] = len(nearest)
    s["identity_retrieval"] = float(np.mean([x == "target" for x in nearest])) if nearest else None
    s["identity_chance"] = 1.0 / len(galleries)
    s["dist_target_mean"] = _mean(pf["dist_target"])
    s["dist_source_mean"] = _mean(pf["dist_source"])
    spread = galleries["target"]["spread"]
    d_t = [d for d in pf["dist_target"] if d is not None]
    s["target_spread"] = spread
    s["within_target_spread"] = float(np.mean([d <= spread for d in d_t])) if d_t else None
    in_nearest = [x for x in pf["input_nearest"] if x is not None]
    # the galleries' own check: the unswapped input should be nearest to the source person
    s["input_frames_checked"] = len(in_nearest)
    s["input_nearest_source"] = float(np.mean([x == ("source" if "source" in galleries else "target") for x in in_nearest])) if in_nearest else None

    if not n_both:
        reasons.setdefault("pose", "no frame has a face in both videos, so pose and expression cannot be compared")
        reasons["expression"] = reasons["pose"]
    s["pose_error_deg"] = _mean(pf["pose_error"])
    for axis in ("yaw", "pitch", "roll"):
        s[f"{axis}_error_deg"] = _mean(pf[f"{axis}_error"])
    s["expression_error"] = _mean(pf["expression_error"])
    s["expression_error_keys"] = {k: _mean(v) for k, v in key_errors.items()}

    _summarise_detail(pf, s, reasons)
    s["face_ssim"] = _mean(pf["face_ssim"])

    s["jitter_input"], s["jitter_swapped"] = _mean(pf["jitter_input"]), _mean(pf["jitter_swapped"])
    s["jitter_ratio"] = _ratio(s["jitter_swapped"], s["jitter_input"])
    s["face_change_input"], s["face_change_swapped"] = _mean(pf["change_input"]), _mean(pf["change_swapped"])
    s["face_change_ratio"] = _ratio(s["face_change_swapped"], s["face_change_input"])
    if s["jitter_swapped"] is None:
        reasons["jitter"] = "fewer than three consecutive frames with a face in the swapped video"
    return s, reasons


def _summarise_detail(pf: dict[str, list], s: dict, reasons: dict) -> None:
    """Band detail of the swap and of the perfect models (medians over frames: a frame without texture does
    not swing them), the blur each band matches, and the Laplacian ratio as a second opinion."""
    for band in metrics.BANDS:
        for what in ("detail", *CEILINGS):
            s[f"{what}_{band}"] = _median(pf[f"{what}_{band}"])
        rows = [(r, lad) for r, lad in zip(pf[f"detail_{band}"], pf[f"ladder_{band}"]) if r is not None and None not in lad]
        s[f"detail_{band}_blur_px"] = None
        if rows:
            ladder = np.median([lad for _, lad in rows], 0).tolist()
            s[f"detail_{band}_blur_px"] = metrics.blur_equivalent(s[f"detail_{band}"], ladder)
            s[f"detail_{band}_ladder"] = {f"{sigma:g}": v for sigma, v in zip(metrics.BLUR_LADDER, ladder)}
    ratios = [r for r in pf["detail_ratio"] if r is not None]
    s["detail_ratio"] = float(np.median(ratios)) if ratios else None
    s["detail_frames"] = sum(r is not None for r in pf["detail_fine"])
    if not s["detail_frames"]:
        reasons["detail"] = "no input frame had a face with texture to measure detail in"


def targets_met(summary: dict) -> dict[str, bool | None]:
    """{metric: reached its ``TARGETS`` value?} (None when it could not be measured). A target that names another
    summary key is that key's value on the same frames (the fine detail against the perfect 64 px model's); the
    detail target holds for self-swaps only, where the input is the swap's full reference."""
    out: dict[str, bool | None] = {}
    for key, target in TARGETS.items():
        value = summary.get(key)
        target = summary.get(target) if isinstance(target, str) else target
        if key == "detail_fine" and summary.get("self_swap") is False:
            value = None  # another person's features sit elsewhere: the band score is a lower bound, not a judgement
        out[key] = None if value is None or target is None else bool(value >= target if key in HIGHER_IS_BETTER else value <= target)
    return out


def summary_table(summary: dict, reconstruction: dict | None = None) -> str:
    """The headline numbers as aligned text lines: metric, value, target, reached."""
    met = targets_met(summary)

    def fmt(v, spec):
        return "n/a" if v is None else format(v, spec)

    def band(what):
        return f"{fmt(summary.get(f'{what}_fine'), '.2f')} / {fmt(summary.get(f'{what}_mid'), '.2f')}"

    n_id = f"{summary.get('identity_candidates', 2)}-way, {summary.get('identity_frames', '?')} frames"
    whose = "self-swap: the input is its reference" if summary.get("self_swap") else "another face: a lower bound"
    rows = [
        ("faces found", fmt(summary["faces_found"], ".0%"), "", ""),
        (f"fine / mid detail vs input ({whose})", band("detail"), f">= {fmt(summary.get('ceiling64_fine'), '.2f')}",
         met["detail_fine"]),
        ("  placed like the input blurred by (px)", fmt(summary.get("detail_fine_blur_px"), ".1f"), "", ""),
        ("  a perfect 64 px model on these frames", band("ceiling64"), "", ""),
        ("  a perfect 128 px model on these frames", band("ceiling128"), "", ""),
        ("inner-face Laplacian, swapped / input", fmt(summary.get("detail_ratio"), ".2f"), "", ""),
        ("face SSIM at frame size", fmt(summary.get("face_ssim"), ".3f"), "", ""),
        (f"identity retrieval ({n_id})", fmt(summary["identity_retrieval"], ".0%"), f">= {TARGETS['identity_retrieval']:.0%}",
         met["identity_retrieval"]),
        ("within the target's own spread", fmt(summary.get("within_target_spread"), ".0%"), "", ""),
        ("distance to target / source", f"{fmt(summary['dist_target_mean'], '.3f')} / {fmt(summary['dist_source_mean'], '.3f')}", "", ""),
        ("pose error (deg)", fmt(summary["pose_error_deg"], ".2f"), f"<= {TARGETS['pose_error_deg']:g}", met["pose_error_deg"]),
        ("expression error (L2)", fmt(summary["expression_error"], ".3f"), "", ""),
        ("jitter swapped / input", fmt(summary["jitter_ratio"], ".2f"), "~1", ""),
        ("face change swapped / input", fmt(summary["face_change_ratio"], ".2f"), "~1", ""),
    ]
    for side, r in (reconstruction or {}).items():
        rows.append((f"reconstruction {side}->{side} SSIM / PSNR", f"{fmt(r['ssim'], '.3f')} / {fmt(r['psnr'], '.1f')} dB", "", ""))
    mark = {True: "yes", False: "NO", None: "n/a", "": ""}
    return "\n".join(f"{what:<56} {value:>16} {target:>8}  {mark[ok]}" for what, value, target, ok in rows)


def write_metrics(result: dict, path: str | Path) -> Path:
    """Write a result (of ``evaluate_swap``, plus anything JSON-ready) atomically."""
    return files.write_json(path, result)


# ---------------------------------------------------------------- reconstruction


def reconstruction_metrics(model, faces: np.ndarray, side: str, masks: np.ndarray | None = None, batch_size: int = 64,
                           reason: str | None = None) -> dict:
    """SSIM and PSNR of ``model.reconstruct(faces, side)`` against ``faces`` (A->A or B->B).

    ``faces``: (N, S, S, 3) aligned crops, uint8 or float in [0, 1], of faces
    the model did NOT train on (else it measures memory, not generalisation);
    resized to ``model.image_size`` if needed and passed on as they are
    (``reconstruct`` converts uint8 itself). The scores compare at the crops' own
    scale (0..255 for uint8): the model's [0, 1] output is scaled to it. ``masks``:
    optional (N, S, S) face masks (as ``aligned_video_faces`` returns): the scores
    then cover the face only, which is all the model is trained to draw (the loss
    is masked; the background of a crop is never learned and never pasted).
    Returns means and per-face lists; with no faces, None scores and ``reason``
    (why there are none) instead.
    """
    from skimage.metrics import structural_similarity

    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[-1] != 3 or faces.shape[1] != faces.shape[2]:
        raise ValueError(f"faces have shape {faces.shape}: expected (N, S, S, 3) aligned RGB crops")
    faces = _at_size(faces, model.image_size)
    if len(faces) == 0:
        return {"side": side, "faces": 0, "ssim": None, "psnr": None, "region": None, "per_face": {"ssim": [], "psnr": []},
                "reason": reason or f"no held-back faces of person {side} to score"}
    region = np.ones(faces.shape[:3], bool) if masks is None else _mask_region(masks, model.image_size)  # (N, S, S)
    scale = 255.0 if faces.dtype == np.uint8 else 1.0  # the crops' range
    recon = np.clip(model.reconstruct(faces, side, batch_size=batch_size), 0.0, 1.0) * scale  # (N, S, S, 3) float32
    ssim, psnr = [], []
    for a, b, m in zip(faces, recon, region):
        _, ssim_map = structural_similarity(a, b, channel_axis=-1, data_range=scale, full=True)
        ssim.append(float(ssim_map[m].mean()))
        mse = float(((a - b)[m] ** 2).mean())
        psnr.append(100.0 if mse == 0 else min(100.0, 10 * np.log10(scale ** 2 / mse)))  # capped: the JSON stays finite
    return {"side": side, "faces": len(faces), "ssim": float(np.mean(ssim)), "psnr": float(np.mean(psnr)),
            "region": "face mask" if masks is not None else "whole crop", "per_face": {"ssim": ssim, "psnr": psnr}}


def _at_size(images: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, ...) from square (N, S, S, ...) crops or masks, their dtype kept."""
    import cv2

    if images.shape[1] == size:
        return images
    if len(images) == 0:
        return images.reshape(0, size, size, *images.shape[3:])
    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])


def _mask_region(masks: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) bool: where (N, S, S) face masks (uint8 0..255, or 0..1) are more than half on."""
    masks = np.asarray(masks)
    half = 127.5 if masks.dtype == np.uint8 else 0.5
    return _at_size(masks.astype(np.float32), size) > half


def aligned_video_faces(path: str | Path, size: int, max_faces: int = 64, start: float = 0.0,
                duration: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops of the main face in up to ``max_faces`` frames spread over a video range, and their masks.

    Returns crops (N, size, size, 3) uint8 and face masks (N, size, size) uint8 in
    {0, 255}: the same alignment and hull as the face sets, at the model's size,
    for reconstruction scores on a clip held back from training (the demo's input clip).
    """
    from swaplab.face import align
    from swaplab.face.landmarks import Landmarker

    info = video.probe(path)
    frames = max(1, int((duration or info.duration - start) * info.fps))
    crops, masks = [], []
    with Landmarker("image", num_faces=1) as lm:
        for f in video.FrameReader(path, start=start, duration=duration, every=max(1, frames // max(max_faces, 1))):
            faces = lm.detect(f.image)
            if faces:
                crop, matrix = align.crop_face(f.image, faces[0].landmarks, size)
                crops.append(crop)
                masks.append(align.landmark_masks(align.transform_points(faces[0].landmarks, matrix), size)[..., 0])
            if len(crops) >= max_faces:
                break
    if not crops:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, size, size), np.uint8)
    return np.stack(crops), np.stack(masks)


def held_back_faces(video_path: str | Path, faces_dir: str | Path, size: int, max_faces: int = 64,
                    start: float = 0.0, duration: float | None = None) -> tuple[np.ndarray, str | None]:
    """(crops, masks, None) of a video's faces if the person's face set was NOT made from it, else (empty, empty, why).

    Training sees exactly the face set, so a clip that is not among its sources
    (by name, or by SHA-256 in 01_collect's manifest) is held back: the demo's
    swapped s1 clip is. Crops as in ``aligned_video_faces``.
    """
    from swaplab.core import assets
    from swaplab.face import faceset

    fs = faceset.FaceSet(faces_dir)
    manifest = files.read_json(Path(faces_dir).parent / "sources" / "manifest.json", default={"sources": []})
    digests = {e.get("sha256") for e in manifest["sources"]}
    video_path = Path(video_path)
    if video_path.stem in fs.summary.get("sources", {}) or (video_path.is_file() and assets.sha256_of(video_path) in digests):
        why = f"{video_path.name} is one of {fs.person}'s training sources, so its faces are not held back"
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, size, size), np.uint8), why
    return (*aligned_video_faces(video_path, size, max_faces, start, duration), None)


def held_back_reconstruction(config: EvalConfig, model) -> dict[str, dict]:
    """{decoder side: ``reconstruction_metrics``} of 05_evaluate: INPUT is the source person's held-back
    footage (unless their face set was made from it), scored through their own decoder; the target
    person has no held-back video here, so theirs is None with the reason."""
    sides = {config.person_a: "a", config.person_b: "b"}
    source, target = sides[config.source], sides[config.target]
    held, masks, why = held_back_faces(config.input_path, config.faces[config.source], model.image_size,
                                       config.holdout_faces, config.swap["start"], config.swap["duration"])
    scores = {source: reconstruction_metrics(model, held, source, masks, reason=why)}
    if target != source:
        scores[target] = reconstruction_metrics(model, held[:0], target, reason=f"no held-back video of {config.target} "
                                                                                 f"(INPUT shows {config.source})")
    return scores
