"""A person's face set: aligned crops plus ONE index table, and the filters that decide what training sees.

On disk, ``data/<project>/<person>/faces/``:
  crops/<source>_<frame:06d>_<face>.jpg  every detected face, aligned, FACE_SIZE px, RGB JPEG q95
  index.jsonl     one JSON object per detected face, kept or dropped (see ``_row``)
  summary.json    counts per reason and per source, frames read, frames without a face, settings
  embeddings.npz  dlib descriptors of the faces that were embedded, by crop name

Its settings are one ``AlignConfig``: 02_align fills it from its parameters
and checks them with ``validate()``; ``align_person`` takes it, or builds it
from keywords. It decides what to read (``_plan``), then works in two steps:
  1. ``_read_sources``, per source, in a worker process (spawned; in this
     process when there is one worker): decode -> MediaPipe landmarks (video
     mode, up to ``max_faces`` faces) -> align -> write the crop -> measure it
     (size, blur, brightness) and embed a sample of faces with dlib (see
     ``identity_every``);
  2. ``_identify_and_save``, in the parent, over all sources: the reference
     identity (``reference`` photo, else the dominant identity of all
     embeddings), then the filters (``apply_filters``), then the index and
     summary, written atomically.
Step 2 is cheap and re-runs every time, so changed thresholds apply to all
faces; step 1 is skipped for sources the summary already lists.

Nothing that exists is lost on a failure. A new face set, or one whose
``READ_SETTINGS`` changed (FACE_SIZE, SAMPLE_FPS, MAX_FACES and identity_every:
they change what step 1 reads, writes and embeds), is built beside the old one
in ``faces.new/`` and renamed into place only when complete; a run that fails
or is killed leaves ``faces/`` as it was (``_undo``), and the next run removes
``faces.new/``. New sources are added in place: their crops first, then the
index and summary (atomic renames). An index line that cannot be read is an
error naming the file and line; ``align_person`` repairs it (drops the line
and reads that source again).
Whatever ``align_person`` repairs or reads again before its real work (what a
stopped run left, a damaged index line or summary, changed READ_SETTINGS, a
source that could not be read last time) it prints as one plain line each, so a
headless run's output (papermill) says why it took longer than a rerun should.
A run that finds no face at all raises ``FaceSetError`` saying why.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swaplab.core import paths
from swaplab.core.files import atomic_path, read_json, write_json
from swaplab.core.params import Parameters
from swaplab.face import align

FACE_SIZE = 256  # px side of the saved crops; training resizes down from it
MIN_FACE = 64  # px: smaller faces (landmark box side in the frame) carry too little detail to train on
BLUR_MIN = 60.0  # variance of the Laplacian of the crop at 64 px (see ``measure``): below it, too soft to train on
DEDUPE = 0.5  # % of the crop side: a face whose landmarks all lie this close to a recent kept one is a duplicate
IDENTITY_MAX = 0.6  # dlib distance to the reference identity above which a face is someone else
IDENTITY_EVERY = 25  # embed every k-th face of a track (plus new tracks and frames with several faces): 1 s at 25 fps
MAX_FACES = 1  # faces looked for per frame: 1 lets MediaPipe track instead of detecting every frame (16 vs 22 ms);
#              use 2+ for footage where others share the frame, and only the target is kept
REASONS = ("small", "other identity", "blurry", "duplicate")  # the order the filters run in
FACE_SIZES = (64, 128, 160, 192, 256, 320, 384, 512)  # the FACE_SIZE choices
# how a face set is made: summary.json's "settings" (``AlignConfig.settings``)
SETTINGS = ("face_size", "sample_fps", "min_face", "blur_min", "dedupe", "identity_max", "identity_every", "max_faces")
READ_SETTINGS = ("face_size", "sample_fps", "max_faces", "identity_every")  # change what step 1 reads or embeds
_ROW_KEYS = ("source", "frame", "face", "file", "landmarks", "kept", "why")  # what every index row must have
_WRITE_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


class FaceSetError(RuntimeError):
    """A face set that cannot be built or read; the message names the folder or file and says what to do."""
_RECENT = 8  # kept faces per source that a new face is compared with for DEDUPE
_EXTS = (".mpg", ".mpeg", ".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif", ".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass
class AlignConfig(Parameters):
    """The parameters of 02_align and every knob of ``align_person``; the worker processes get a copy (it pickles).

    ``validate()`` checks every field before the slow work and resolves
    ``sources_dir``, ``faces_dir``, ``reports`` and ``target`` (TARGET_VIDEO as a
    path, None without one). ``settings()`` is what summary.json records of how a
    face set was made.
    """

    project: str = "demo"
    person: str = "b"
    face_size: int = FACE_SIZE  # one of FACE_SIZES
    sample_fps: float | None = 0  # frames per second to look at; 0 (or None) = every frame
    reference: str | Path = ""  # a photo of the person for the identity filter; "" = the dominant identity
    min_face: float = MIN_FACE
    blur_min: float = BLUR_MIN
    dedupe: float = DEDUPE  # 0 = keep near-duplicates
    max_faces: int = MAX_FACES
    compare_with: str = ""  # the other person, for 02_align's data report ("" = none; the notebook's default is "a")
    target_video: str = ""  # a video to be swapped, for 02_align's data report: a file, sample key or source name
    grid_mask: str = "hull"  # the paste mask 02_align draws on the grid of kept faces: one of masks.MASKS, or ""
    workers: int | None = 0  # processes for new sources; 0 (or None) = min(cpu_count, new sources)
    data_dir: str | Path = "../data"
    interactive: bool = False  # progress bars
    identity_max: float = IDENTITY_MAX  # 0 = no identity filter
    identity_every: int = IDENTITY_EVERY  # 0 = embed nothing (no identity filter, fastest)
    sources_dir: Path | None = field(init=False, default=None)  # data/<project>/<person>/sources/
    faces_dir: Path | None = field(init=False, default=None)  # data/<project>/<person>/faces/
    reports: Path | None = field(init=False, default=None)  # data/<project>/reports/
    target: Path | None = field(init=False, default=None)  # TARGET_VIDEO resolved (assets.resolve_media)

    def validate(self) -> AlignConfig:
        """Check every field (a typo fails here, in seconds); resolve the folders and TARGET_VIDEO; returns ``self``."""
        from swaplab.core import assets
        from swaplab.face import masks

        self.check_names("project", "person")
        if self.compare_with:
            self.check_names("compare_with")
            if self.compare_with == self.person:
                self.bad("compare_with", "that is PERSON itself: name the other person, or '' to skip")
        if isinstance(self.face_size, bool) or self.face_size not in FACE_SIZES:
            self.bad("face_size", f"use one of {', '.join(map(str, FACE_SIZES))}, e.g. 256")
        self.check_whole("max_faces", 1, 8, "1 when one person is in view")
        self._check_numbers()
        if self.grid_mask not in ("", *masks.MASKS):
            self.bad("grid_mask", f"choose one of {masks.MASKS}, or '' for none")
        self.check_flags("interactive")
        self.check_folders(data_dir="the folder where data/<PROJECT>/ lives, e.g. '../data'")
        if not isinstance(self.reference, (str, Path)) or self.reference and not Path(self.reference).is_file():
            raise FileNotFoundError(f"REFERENCE={str(self.reference)!r} is not a file: give a photo of the person, "
                                    "or '' for none")
        if not isinstance(self.target_video, str):
            self.bad("target_video", "must be a file, a sample key or a source name, or '' for none")
        self.target = assets.resolve_media(self.target_video, self.data_dir, self.project,
                                           "TARGET_VIDEO") if self.target_video else None
        self.sources_dir = paths.sources_dir(self.data_dir, self.project, self.person)
        self.faces_dir = paths.faces_dir(self.data_dir, self.project, self.person)
        self.reports = paths.reports_dir(self.data_dir, self.project)
        return self

    def _check_numbers(self) -> None:
        """The rates and thresholds: numbers no lower than their floor."""
        floors = {"sample_fps": (0, "0 means every frame"), "min_face": (16, "px of the face in the frame"),
                  "blur_min": (0, "0 keeps blurry faces"), "dedupe": (0, "0 keeps near-duplicates"),
                  "identity_max": (0, "0 means no identity filter")}
        for name, (floor, why) in floors.items():
            if not (name == "sample_fps" and self.sample_fps is None):
                self.check_number(name, floor, why=why)
        self.check_whole("identity_every", 0, why="0 embeds nothing: no identity filter")
        if self.workers is not None:
            self.check_whole("workers", 0, why="0 means one per source, up to the CPU count")

    def settings(self) -> dict:
        """How a face set is made (``SETTINGS``), as summary.json records it (SAMPLE_FPS 0 as None)."""
        return {k: getattr(self, k) for k in SETTINGS} | {"sample_fps": self.sample_fps or None}


# ---------------------------------------------------------------- sources


def find_sources(sources_dir: str | Path) -> dict[str, Path]:
    """{source name: path} of a person's sources: the manifest's files, else every video/GIF/image/folder there."""
    folder = Path(sources_dir)
    if not folder.is_dir():
        return {}
    manifest = read_json(folder / "manifest.json", default={"sources": []})
    files = [folder / e["file"] for e in manifest["sources"]]
    if not files:  # no manifest (files dropped in by hand): take whatever looks like a source
        files = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in _EXTS))
    return {p.stem if p.is_file() else p.name: p for p in files}


# ---------------------------------------------------------------- measuring one crop


def measure(crop: np.ndarray) -> tuple[float, float]:
    """(blur, brightness) of an aligned (S, S, 3) uint8 RGB crop.

    blur: variance of the Laplacian of the face's centre, measured at 64 px (the
    smallest model input), so it does not depend on FACE_SIZE and asks "is it
    sharp at the size training sees?"; higher is sharper. Sharp 360p GRID faces
    score ~800, the 78 px faces of the head-pose GIFs ~130, a GRID face blurred
    by a Gaussian of 1 px (at 64 px) ~115, of 2 px ~30.
    brightness: mean L of CIELAB in [0, 255] over the same centre.
    """
    import cv2

    small = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA)[12:56, 10:54]  # brows to chin, cheek to cheek
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    blur = float(cv2.Laplacian(gray, cv2.CV_32F).var())
    brightness = float(cv2.cvtColor(small, cv2.COLOR_RGB2LAB)[..., 0].mean())
    return blur, brightness


def near_duplicate(a: dict, b: dict, dedupe: float, face_size: int) -> bool:
    """True when two rows show the same pose, expression and light: a second copy teaches training nothing.

    Same = every crop-space landmark within ``dedupe`` % of the crop side (the
    largest move, so a mouth opening counts even when the head is still) and
    brightness within 3 of 255. Consecutive 25 fps frames of a talking head
    move their largest landmark by a median 0.4 % (0.1-1.9 % for 5-95 %).
    """
    moved = np.linalg.norm(np.asarray(a["landmarks"]) - np.asarray(b["landmarks"]), axis=1).max()
    return bool(moved < dedupe / 100 * face_size and abs(a["brightness"] - b["brightness"]) < 3)


# ---------------------------------------------------------------- step 1: one source, in a worker


def _process_source(name: str, path: str, faces_dir: str, config: AlignConfig) -> dict:
    """Detect, align, crop and measure every face of one source; returns rows, embeddings and frame counts."""
    import cv2

    from swaplab.core import video

    cv2.setNumThreads(1)  # one process per source already uses the cores
    try:
        reader = video.FrameReader(path, every=_every(path, config.sample_fps))
        return _faces_of(name, reader, Path(faces_dir), config)
    except video.VideoError as e:  # unreadable source: reported in the summary, retried on the next run
        return {"name": name, "rows": [], "names": [], "vectors": [], "error": str(e)}


def _faces_of(name: str, reader, faces_dir: Path, config: AlignConfig) -> dict:
    import cv2

    from swaplab.face import identity, landmarks

    mode = "image" if reader.info.codec in {"images", "image"} else "video"
    embedder = identity.Embedder() if config.identity_every > 0 else None
    rows, names, vectors, no_face = [], [], [], 0
    tracks: list[tuple[int, np.ndarray, int]] = []  # (track id, last centre, faces since its last embedding)
    next_track = 0
    (faces_dir / "crops").mkdir(parents=True, exist_ok=True)
    with landmarks.Landmarker(mode, num_faces=config.max_faces) as lm:
        for frame in reader:
            faces = lm.detect(frame.image, int(frame.time * 1000))
            no_face += not faces
            now = []
            for k, face in enumerate(faces):
                crop, matrix = align.crop_face(frame.image, face.landmarks, config.face_size)
                file = f"crops/{name}_{frame.index:06d}_{k}.jpg"
                if not cv2.imwrite(str(faces_dir / file), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]):
                    raise OSError(errno.EIO, "could not write the crop (disk full or not writable?)", str(faces_dir / file))
                # Track by the nearest face centre of the previous frame (within half a face), so the faces
                # of a track that were not embedded take the identity distance of those that were.
                centre = face.landmarks.mean(0)
                free = [t for t in tracks if t[0] not in {n[0] for n in now}]
                match = min(free, key=lambda t: np.linalg.norm(t[1] - centre), default=None)
                if match is not None and np.linalg.norm(match[1] - centre) >= face.size / 2:
                    match = None
                tid, since = (match[0], match[2]) if match else (next_track, config.identity_every)
                next_track += match is None
                embed = embedder is not None and face.size >= config.min_face and (
                    len(faces) > 1 or since >= config.identity_every)
                if embed:
                    names.append(Path(file).stem)
                    vectors.append(embedder.embed_crop(crop))
                now.append((tid, centre, 1 if embed else since + 1))  # frames since the last embedding, this one included
                rows.append(_row(name, frame, k, file, face, matrix, crop, tid, embed))
            tracks = now
    return {"name": name, "rows": rows, "names": names, "vectors": vectors, "frames_read": reader.frames_read,
            "frames_without_face": no_face, "decode_errors": reader.errors, "every": reader.every}


def _every(path: str, sample_fps: float | None) -> int:
    from swaplab.core import video

    return max(1, round(video.probe(path).fps / sample_fps)) if sample_fps else 1


def _row(source: str, frame, k: int, file: str, face, matrix: np.ndarray, crop: np.ndarray, track: int, embedded: bool) -> dict:
    """One index row. Landmarks are in CROP pixels (FACE_SIZE), the matrix maps frame -> crop."""
    from swaplab.face.landmarks import BLENDSHAPE_NAMES

    blur, brightness = measure(crop)
    return {
        "source": source, "frame": frame.index, "time": round(frame.time, 3), "face": k, "file": file,
        "bbox": list(face.bbox), "matrix": np.round(matrix, 6).tolist(),
        "landmarks": np.round(align.transform_points(face.landmarks, matrix), 1).tolist(),  # (478, 2)
        "yaw": round(face.yaw, 1), "pitch": round(face.pitch, 1), "roll": round(face.roll, 1),
        "blendshapes": {n: round(float(s), 3) for n, s in zip(BLENDSHAPE_NAMES, face.blendshapes)},
        "blur": round(blur, 1), "brightness": round(brightness, 1), "size": round(face.size, 1),
        "track": track, "embedded": embedded,
        "identity_distance": None, "kept": False, "why": None,
    }


# ---------------------------------------------------------------- step 2: identity and filters, in the parent


def reference_embedding(reference: str | Path) -> np.ndarray:
    """(128,) embedding of the largest face in a reference photo; a clear error when there is none."""
    from swaplab.core import video
    from swaplab.face import identity, landmarks

    path = Path(reference)
    if not path.is_file():
        raise FileNotFoundError(f"REFERENCE={str(reference)!r} is not a file: give a photo of the person, or '' for none")
    image = video._read_image(path)
    with landmarks.Landmarker("image", num_faces=1) as lm:
        faces = lm.detect(image)
    if not faces:
        raise ValueError(f"REFERENCE={str(reference)!r}: no face found in it; use a clear, frontal photo of the person")
    return identity.Embedder().embed(image, faces[0].landmarks)


def assign_identity(rows: list[dict], vectors: dict[str, np.ndarray], ref: np.ndarray) -> None:
    """Set ``identity_distance`` on every row: its own embedding's, else the nearest embedded face of its track."""
    from swaplab.face import identity

    by_track: dict[tuple, list[dict]] = {}
    for r in rows:
        by_track.setdefault((r["source"], r["track"]), []).append(r)
    for track in by_track.values():
        known = [(r["frame"], identity.distance(vectors[Path(r["file"]).stem], ref)) for r in track
                 if Path(r["file"]).stem in vectors]
        for r in track:
            near = min(known, key=lambda fd: abs(fd[0] - r["frame"]), default=None)
            r["identity_distance"] = None if near is None else round(near[1], 3)


def apply_filters(rows: list[dict], config: AlignConfig) -> None:
    """Set ``kept``/``why`` on rows (in source and frame order): size, identity, blur, then near-duplicates.

    A face with no identity distance (its track was never embedded) passes the
    identity filter. In a frame with several faces at most one is kept: the
    closest to the reference identity.
    """
    for r in rows:
        d = r["identity_distance"]
        r["why"] = ("small" if r["size"] < config.min_face
                    else "other identity" if config.identity_max and d is not None and d > config.identity_max
                    else "blurry" if r["blur"] < config.blur_min else None)
    by_frame: dict[tuple, list[dict]] = {}
    for r in rows:
        by_frame.setdefault((r["source"], r["frame"]), []).append(r)
    for group in by_frame.values():
        ok = [r for r in group if r["why"] in (None, "blurry")]
        for r in sorted(ok, key=lambda r: 9.0 if r["identity_distance"] is None else r["identity_distance"])[1:]:
            r["why"] = "other identity"
    recent: dict[str, list[dict]] = {}
    for r in rows:
        if r["why"] is None and config.dedupe:
            seen = recent.setdefault(r["source"], [])
            if any(near_duplicate(r, k, config.dedupe, config.face_size) for k in seen):
                r["why"] = "duplicate"
            else:
                seen[:] = (seen + [r])[-_RECENT:]
        r["kept"] = r["why"] is None


# ---------------------------------------------------------------- the whole person


def align_person(data_dir: str | Path | AlignConfig, project: str = "", person: str = "", *,
                 progress: bool | None = None, **settings) -> FaceSet:
    """Build or update ``data/<project>/<person>/faces/`` from ``sources/``; returns the FaceSet.

    Takes an ``AlignConfig`` (``align_person(CONFIG)``, as 02_align does), or
    ``data_dir, project, person`` and any other ``AlignConfig`` field as keywords,
    with ``progress`` for ``interactive`` (progress bars; on by default). The
    config is validated first. Sources already listed in summary.json are not
    read again (delete faces/ to start over). A change of a ``READ_SETTINGS``
    value reads every source again into ``faces.new/``, which replaces ``faces/``
    only once complete. ``workers``: processes for new sources, default
    min(cpu_count, new sources). Raises ``FaceSetError`` when no face was found
    at all (every source unreadable or faceless) or the face set cannot be
    written; ``faces/`` is then as it was.
    """
    if isinstance(data_dir, AlignConfig):
        if project or person or settings or progress is not None:
            raise TypeError("align_person(config) takes nothing else: set those fields on the config")
        config = data_dir
    else:
        config = AlignConfig(data_dir=data_dir, project=project, person=person,
                             interactive=True if progress is None else progress, **settings)
    config.validate()
    sources = find_sources(config.sources_dir)
    if not sources:
        raise FileNotFoundError(f"{config.sources_dir} is empty: run 01_collect for person {config.person} first")
    job = _plan(config, sources)
    try:
        workers = _read_sources(job, config)
        _identify_and_save(job, config, workers)
        if job.rebuild:
            _swap_in(job.build, job.out)
    except BaseException as e:
        failed = _undo(job, e, config.person)
        if failed is not None:
            raise failed from e
        raise
    return FaceSet(job.out)


@dataclass
class _Job:
    """One run of ``align_person``: where it builds, what it reads, and what it keeps of the old face set."""

    out: Path  # faces/
    old: FaceSet  # what faces/ held before the run (bad index lines dropped)
    rebuild: bool  # a new face set, or changed READ_SETTINGS: build in faces.new/, swap it in when complete
    todo: dict[str, Path]  # the sources step 1 reads
    rows: list[dict]  # index rows: those kept from the old set, then the new ones
    vectors: dict[str, np.ndarray]  # embeddings by crop name, likewise
    per_source: dict[str, dict]  # summary.json's "sources", likewise

    @property
    def build(self) -> Path:
        """Where this run writes: faces.new/ for a rebuild, else faces/ itself (new sources are added in place)."""
        return self.out.with_name(self.out.name + ".new") if self.rebuild else self.out


def _plan(config: AlignConfig, sources: dict[str, Path]) -> _Job:
    """Clean up after a killed run, read the old face set, and decide what to read: every source, or the new ones."""
    out = config.faces_dir
    _recover(out)
    old = FaceSet(out, must_exist=False, repair=True)
    changed = read_changes(old.summary, config)
    if not old.summary or changed:  # a new face set, or one whose crops/landmarks no longer fit
        job = _Job(out, old, True, dict(sources), [], {}, {})
        why = ", ".join(changed) or (old.summary_damage and f"{out / 'summary.json'} was damaged ({old.summary_damage})")
        if why:
            print(f"{why}: reading every source of {config.person} again into {job.build}; "
                  f"{out} stays as it is until that is done")
        return job
    damaged = old.damaged_sources()  # their index lines could not be read: read them again
    per_source = {n: s for n, s in old.summary.get("sources", {}).items() if n not in damaged}
    todo = {n: p for n, p in sources.items() if n not in per_source or "error" in per_source[n]}
    _say_repairs(old, per_source, todo)
    rows = [r for r in old.rows if r["source"] not in todo]  # a source read again replaces its rows
    kept_files = {Path(r["file"]).stem for r in rows}
    vectors = {k: v for k, v in old.embeddings().items() if k in kept_files}
    return _Job(out, old, False, todo, rows, vectors, per_source)


def _say_repairs(old: FaceSet, per_source: dict, todo: dict) -> None:
    """One printed line per damaged index line dropped, and per source read again because it failed last time."""
    for n, names in old.damaged_lines():
        again = [name for name in names if name in todo]
        what = f"reading source{'s' * (len(again) > 1)} {', '.join(again)} again" if again else "no source to read again"
        print(f"{old.dir / 'index.jsonl'} line {n} was damaged: dropped it and {what}")
    for name, s in per_source.items():
        if name in todo:  # listed with an error: it could not be read last time
            print(f"source {name} of {old.person} could not be read last time ({' '.join(str(s['error']).split())[:120]}): "
                  "reading it again")


def _read_sources(job: _Job, config: AlignConfig) -> int:
    """Step 1: read ``job.todo`` into ``job.build`` and add to the job's rows, vectors and per_source.

    Returns the number of worker processes (recorded in summary.json).
    """
    from tqdm.auto import tqdm

    workers = max(1, min(config.workers or os.cpu_count() or 1, len(job.todo) or 1))
    if not job.todo:
        return workers
    results = _run(job.todo, str(job.build), config, workers)
    try:
        for res in tqdm(results, total=len(job.todo), desc=f"sources of {config.person}", unit="source",
                        disable=not config.interactive):
            job.rows += res.pop("rows")
            job.vectors.update(zip(res.pop("names"), res.pop("vectors")))
            job.per_source[res.pop("name")] = res
    finally:
        results.close()  # waits for running workers, so nothing writes into ``build`` after this
    return workers


def _identify_and_save(job: _Job, config: AlignConfig, workers: int) -> None:
    """Step 2: the reference identity, the filters, then index, embeddings and summary into ``job.build``."""
    rows, vectors = job.rows, job.vectors
    if not rows:
        raise FaceSetError(_nothing_found(config.person, config.sources_dir, job.per_source))
    rows.sort(key=lambda r: (r["source"], r["frame"], r["face"]))
    ref_kind, share = "none", None
    if vectors and config.identity_every > 0:
        from swaplab.face import identity

        if config.reference:
            ref, ref_kind = reference_embedding(config.reference), f"photo {config.reference}"
        else:
            (ref, share), ref_kind = identity.dominant(np.stack(list(vectors.values()))), "dominant identity"
        assign_identity(rows, vectors, ref)
    apply_filters(rows, config)
    _save(job.build, rows, vectors, _summary(rows, job.per_source, config, ref_kind, share, workers))


def _undo(job: _Job, error: BaseException, person: str) -> FaceSetError | None:
    """Remove what a failed run wrote, so ``faces/`` is as it was; for a failed write, the error to raise instead."""
    if job.rebuild:
        shutil.rmtree(job.build, ignore_errors=True)
    else:  # crops the new sources got before the failure: the index (unchanged) does not list them
        old = job.old.rows
        _remove_crops(job.out, set(job.todo) - {r["source"] for r in old}, keep={r["file"] for r in old})
    if not (isinstance(error, OSError) and error.errno in _WRITE_ERRORS):
        return None
    where = f" writing {error.filename}" if error.filename else ""
    out = job.out
    kept = (f"{out} is kept as it was" if job.old.summary else f"{out} was not created") if job.rebuild else \
        f"{out} is kept as it was (the new sources were not added)"
    return FaceSetError(f"02_align could not write the face set of person {person} ({error.strerror or error}{where}); "
                        f"{kept}: free disk space (or make it writable) and run 02_align again")


def read_changes(summary: dict, config: AlignConfig) -> list[str]:
    """The ``READ_SETTINGS`` of ``config`` that differ from those a face set was made with, as "FACE_SIZE 256 -> 128"."""
    if not summary:
        return []
    made = {"face_size": summary.get("face_size"), **summary.get("settings", {})}
    now = config.settings()
    return [f"{k.upper()} {made[k] or 0} -> {now[k] or 0}" for k in READ_SETTINGS
            if k in made and (made[k] or None) != (now[k] or None)]


def _recover(out: Path) -> None:
    """Finish or undo what a killed run left beside ``out`` (a swap-in cut between its two renames, a partial
    build), printing one line for each thing it does."""
    new, old = out.with_name(out.name + ".new"), out.with_name(out.name + ".old")
    if old.exists() and not out.exists():  # killed between the renames of ``_swap_in``: new is complete
        done = new if (new / "summary.json").exists() else old
        os.replace(done, out)
        print(f"{out} was missing (a run was stopped while putting a new face set in place): "
              f"{'finished it' if done == new else 'put the old one back'} ({done.name} -> {out.name})")
    for left, what in ((old, "the face set it replaced"), (new, "a face set it had not finished")):
        if left.exists():
            shutil.rmtree(left, ignore_errors=True)
            print(f"{left} was left by a stopped run ({what}): removed it")


def _swap_in(build: Path, out: Path) -> None:
    """Put the complete face set ``build`` at ``out`` with two renames, then delete the old one."""
    old = out.with_name(out.name + ".old")
    if out.exists():
        os.replace(out, old)
    os.replace(build, out)
    shutil.rmtree(old, ignore_errors=True)


def _remove_crops(out: Path, sources: set[str], keep: set[str]) -> None:
    """Delete the crops of ``sources`` in ``out/crops`` that the index does not list (``keep``: "crops/x.jpg")."""
    if not sources or not (out / "crops").is_dir():
        return
    pattern = re.compile(r"^(.+)_\d{6}_\d+\.jpg$")
    for p in (out / "crops").iterdir():
        m = pattern.match(p.name)
        if m and m.group(1) in sources and f"crops/{p.name}" not in keep:
            p.unlink(missing_ok=True)


def _nothing_found(person: str, src_dir: Path, per_source: dict) -> str:
    """Why a person's sources gave no face at all, and what to do, in one line."""
    errors = {n: " ".join(str(s["error"]).split()) for n, s in per_source.items() if "error" in s}
    if errors and len(errors) == len(per_source):
        listed = "; ".join(f"{n}: {e}" for n, e in list(errors.items())[:2])
        more = f"; and {len(errors) - 2} more" if len(errors) > 2 else ""
        return (f"02_align could read none of the {len(errors)} sources of person {person} in {src_dir} ({listed}{more}): "
                "replace them, or collect them again with 01_collect")
    frames = sum(s.get("frames_read", 0) for s in per_source.values())
    unreadable = f"; {len(errors)} could not be read: {', '.join(errors)}" if errors else ""
    return (f"02_align found no face in the {frames} frames it read from the sources of person {person} in {src_dir}"
            f"{unreadable}: collect footage where the face is clearly visible (01_collect), then run 02_align again")


def _run(todo: dict[str, Path], out: str, config: AlignConfig, workers: int):
    """Results of ``_process_source`` for each source: in this process for one worker, else in spawned ones.

    Spawn, not fork: MediaPipe and dlib hold threads and native state that a
    forked child must not inherit.
    """
    if workers == 1:
        yield from (_process_source(n, str(p), out, config) for n, p in todo.items())
        return
    import multiprocessing as mp

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        jobs = [pool.submit(_process_source, n, str(p), out, config) for n, p in todo.items()]
        try:
            yield from (job.result() for job in jobs)
        finally:  # on an error or close(): no new source starts; leaving ``with`` waits for the running ones
            for job in jobs:
                job.cancel()


def _summary(rows: list[dict], per_source: dict, config: AlignConfig, ref_kind: str, share, workers: int) -> dict:
    def counts(rs):
        dropped = {w: sum(r["why"] == w for r in rs) for w in REASONS}
        return {"faces": len(rs), "kept": sum(r["kept"] for r in rs), "dropped": dropped}

    for name, s in per_source.items():
        s.update(counts([r for r in rows if r["source"] == name]))

    def total(key):
        return sum(s.get(key, 0) for s in per_source.values())

    return {
        "face_size": config.face_size, **counts(rows),
        "frames_read": total("frames_read"), "frames_without_face": total("frames_without_face"),
        "decode_errors": total("decode_errors"),
        "no_face_sources": sorted(n for n, s in per_source.items() if s["faces"] == 0 and "error" not in s),
        "errors": {n: s["error"] for n, s in per_source.items() if "error" in s},
        "identity_reference": ref_kind, "dominant_share": None if share is None else round(share, 3),
        "embedded": sum(r["embedded"] for r in rows), "workers": workers,
        "settings": config.settings(), "sources": per_source,
    }


def _save(out: Path, rows: list[dict], vectors: dict, summary: dict) -> None:
    """index.jsonl, embeddings.npz, then summary.json (last: it marks the sources as done), each atomic."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "index.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
    with atomic_path(out / "embeddings.npz") as tmp:
        names = sorted(vectors)
        vec = np.stack([vectors[n] for n in names]) if names else np.zeros((0, 128), np.float32)
        np.savez(tmp, names=np.array(names, dtype=str), vectors=vec.astype(np.float32))
    write_json(out / "summary.json", summary)


# ---------------------------------------------------------------- reading a face set


class FaceSet:
    """A face set on disk: ``.rows`` (index.jsonl as dicts), ``.summary``, and ways to look at them.

    A line of index.jsonl that is not a face record, or an unreadable summary.json,
    raises ``FaceSetError`` naming the file, the line and what to do; with
    ``repair=True`` (what ``align_person`` uses) bad lines are skipped and kept in
    ``bad_lines``, and an unreadable summary reads as empty (the set is rebuilt).
    """

    def __init__(self, faces_dir: str | Path, must_exist: bool = True, repair: bool = False):
        self.dir = Path(faces_dir)
        if must_exist and not (self.dir / "summary.json").exists():
            raise FileNotFoundError(f"{self.dir} is empty: run 02_align for person {self.person} first")
        self.bad_lines: list[tuple[int, str]] = []  # (line number, text) of index lines skipped with ``repair``
        self.summary_damage = ""  # with ``repair``: why summary.json could not be read ("" = it could, or is absent)
        self.rows: list[dict] = self._read_index(repair)
        try:
            self.summary: dict = read_json(self.dir / "summary.json", default={})
        except (OSError, ValueError) as e:  # ValueError: JSONDecodeError, UnicodeDecodeError
            why = " ".join(str(e).split())[:100]
            if not repair:
                raise FaceSetError(f"{self.dir / 'summary.json'} is damaged ({why}): run "
                                   f"02_align for person {self.person} to rebuild the face set") from None
            self.summary, self.summary_damage = {}, why

    def _read_index(self, repair: bool) -> list[dict]:
        index = self.dir / "index.jsonl"
        if not index.exists():
            return []
        rows = []
        for n, line in enumerate(index.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not all(k in row for k in _ROW_KEYS):
                    raise ValueError(f"a face record needs {', '.join(_ROW_KEYS)}")
            except ValueError as e:
                if not repair:
                    why = f"{e.msg} at column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
                    raise FaceSetError(
                        f"{index} line {n} is not a valid face record ({why}): run 02_align for person {self.person} "
                        f"to repair the index (it drops the line and reads that source again), or delete {self.dir} "
                        "to align from scratch") from None
                self.bad_lines.append((n, line))
                continue
            rows.append(row)
        return rows

    def damaged_sources(self) -> set[str]:
        """Sources that lost rows to ``bad_lines``: fewer rows than summary.json counted, or named in a bad line."""
        return {name for _, names in self.damaged_lines() for name in names}

    def damaged_lines(self) -> list[tuple[int, list[str]]]:
        """(line number, sources it may have held) for each of ``bad_lines``, sorted names: the source the line
        still names, else every source with fewer rows than summary.json counted, else all of them (no clue which)."""
        found: dict[str, int] = {}
        for r in self.rows:
            found[r["source"]] = found.get(r["source"], 0) + 1
        recorded = self.summary.get("sources", {})
        short = sorted(n for n, s in recorded.items() if found.get(n, 0) < s.get("faces", 0)) or sorted(recorded)
        named = [(n, re.search(r'"source":\s*"([^"]+)"', line)) for n, line in self.bad_lines]
        return [(n, [m.group(1)] if m else short) for n, m in named]

    def why_empty(self) -> str:
        """Why no face of this set is kept, and what to do, in one line."""
        s = self.summary
        if not s:
            return f"{self.dir} is empty: run 02_align for person {self.person} first"
        if not self.rows:
            return _nothing_found(self.person, self.dir.parent / "sources", s.get("sources", {}))
        dropped = ", ".join(f"{n} {w}" for w, n in s.get("dropped", {}).items() if n)
        return (f"{self.dir} keeps none of its {len(self.rows)} faces (dropped: {dropped or 'all'}): lower MIN_FACE, "
                f"BLUR_MIN or DEDUPE, or give a REFERENCE photo, and run 02_align for person {self.person} again")

    @property
    def person(self) -> str:
        return self.dir.parent.name

    @property
    def face_size(self) -> int:
        return int(self.summary.get("face_size", FACE_SIZE))

    def kept(self) -> list[dict]:
        return [r for r in self.rows if r["kept"]]

    def dropped(self, why: str | None = None) -> list[dict]:
        """Dropped rows, all of them or those dropped for one reason (one of ``REASONS``)."""
        return [r for r in self.rows if not r["kept"] and (why is None or r["why"] == why)]

    def values(self, key: str, rows: list[dict] | None = None) -> np.ndarray:
        """(N,) float32 of a row field ("yaw", "blur", ...) or a blendshape name ("jawOpen"), for ``rows`` (default kept)."""
        rows = self.kept() if rows is None else rows
        return np.array([r[key] if key in r else r["blendshapes"].get(key, 0.0) for r in rows], np.float32)

    def image(self, row: dict) -> np.ndarray:
        """The (FACE_SIZE, FACE_SIZE, 3) uint8 RGB crop of a row."""
        from swaplab.core.video import _read_image

        return _read_image(self.dir / row["file"])

    def embeddings(self) -> dict[str, np.ndarray]:
        """{crop name: (128,) float32} of the faces that were embedded."""
        path = self.dir / "embeddings.npz"
        if not path.exists():
            return {}
        with np.load(path) as z:
            return dict(zip(z["names"].tolist(), z["vectors"]))

    def __len__(self) -> int:
        return len(self.kept())

    def __repr__(self) -> str:
        return f"FaceSet({self.dir}: {len(self)} kept of {len(self.rows)} faces)"


def load_training_arrays(faces_dir: str | Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, masks) of the KEPT faces at ``size`` px, for training.

    images: (N, size, size, 3) uint8 RGB, crops resized with INTER_AREA.
    masks: (N, size, size, 2) uint8 in {0, 255} (face hull, eyes+brows+mouth),
    drawn from the landmarks scaled to ``size``.
    """
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    fs = FaceSet(faces_dir, must_exist=False)
    rows = fs.kept()
    if not rows:
        raise FileNotFoundError(fs.why_empty())
    scale = size / fs.face_size

    def one(r):  # cv2 releases the GIL while decoding, so threads overlap the JPEG work
        img = fs.image(r)
        if img.shape[0] != size:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        return img, align.landmark_masks(np.asarray(r["landmarks"]) * scale, size)

    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        pairs = list(pool.map(one, rows))
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
