"""The conversion pipeline: a video in, the same video with the face swapped out (04_swap).

Per frame::

    decode (ffmpeg process + reader thread)
      -> scene-cut check (``cuts``: at a cut, tracks, smoothing and MediaPipe's tracking start over)
      -> landmarks of every face (MediaPipe, VIDEO mode, on a copy at most ``detect_width`` wide)
      -> face tracks and the target choice (``targets``: the source person by identity, the largest, or all)
      -> One-Euro smoothing per track -> alignment matrix -> crop at the model's size (+ hair, ``masks``)
      -> [batch of ``batch_size`` faces] -> ONE model call (encoder + the other side's decoder)
      -> the run's detail stage (``detail.Cascade``): the face drawn again at 128-256 px by the target's detail net
      -> colour transfer + mask (crop space, at the drawn size) -> paste into the mask's box only -> label
      -> side by side (original | swapped) -> encode (writer thread + ffmpeg, audio muxed)

Three things overlap on a 2-core CPU: ffmpeg decodes and encodes in its own
processes, a "locate" thread runs landmarks + alignment for the frames ahead,
and the main thread runs the model and blending on the frames behind. MediaPipe,
TensorFlow and OpenCV all release the GIL while they work, so Python threads
are enough.

``convert`` checks its input as 01_collect does (``video.verify``) before any slow
work, and writes the output atomically (``video.VideoWriter``): an exception, a
KeyboardInterrupt or a SIGTERM (``files.sigterm_unwinds``) anywhere stops ffmpeg
and deletes the hidden temporary file, leaving nothing at the output path. What a
run killed outright (kill -9) leaves, the next conversion into the same folder
removes, and says so (``remove_partial_outputs``).
``preview_frame`` runs the very same per-frame code (``FramePipeline``) on one frame:
04_swap's preview, and ``widgets.scrubber`` for each frame and control it shows.

``SwapOptions`` holds the knobs of a conversion; ``SwapJob`` is 04_swap's checking
cell (``swaplab.core.params``): the project, run, input(s), output and options, all
checked and resolved before a frame is decoded. INPUT may be a folder or glob
(``is_batch``, ``input_files``); the batch driver above this module,
``batch.convert_many``, then converts each file with ``convert``.
"""

from __future__ import annotations

import dataclasses
import glob
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from swaplab import SYNTHETIC_TAG
from swaplab.core import assets, files, paths, photos, video
from swaplab.core.params import Parameters
from swaplab.core.paths import DIRECTIONS
from swaplab.face import align, blend, masks
from swaplab.model import runs
from swaplab.swap import targets
from swaplab.swap.cuts import CutDetector

STAGES = ("decode", "landmarks", "align", "model", "detail", "blend", "encode")
STRETCH_WARNING = 1.5  # faces stretched more than this from the drawn size to the frame get a warning: they will look soft
MEDIA_EXTS = paths.VIDEO_EXTS + paths.IMAGE_EXTS  # the files of a folder or glob that a batch converts
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass
class SwapOptions(Parameters):
    """Every knob of a conversion; ``validate()`` checks them all with errors naming the field.

    ``SwapOptions.from_parameters(globals())`` reads them from 04_swap's parameters (DIRECTION -> direction, ...).
    """

    direction: str = "a2b"  # "a2b": faces of A in the input are rendered as B; "b2a": the reverse; "a2a"/"b2b": self-swap
    start: float = 0.0  # seconds into the input where the converted range starts
    duration: float | None = None  # seconds to convert from ``start``; None = to the end
    output_width: int | None = None  # width of the swapped picture in px (aspect kept); None = input's
    side_by_side: bool = False  # write original | swapped next to each other (output twice as wide)
    color: str = "rct"  # colour transfer: "rct" Lab mean/std, "hist" histogram match, "none"
    blend: str = "feather"  # "feather" alpha blend; "seamless" Poisson cloning in the aligned crop, then feathered
    mask_erode: int = 3  # shrink the face hull by this many px of a 64 px crop (scaled to the model's size)
    mask_blur: int = 3  # feather the mask edge over about this many px of a 64 px crop
    sharpen: float = 0.0  # unsharp-mask amount on the swapped face before pasting (0 = off; ~0.5 restores edge contrast)
    smoothing: float = 1.0  # One-Euro min cutoff in Hz for the landmarks (lower = steadier); 0 = off
    smoothing_beta: float = 5.0  # One-Euro speed coefficient (speed in face sizes / s); higher = less lag
    batch_size: int = 8  # faces per model call: larger runs nearer the CPU's peak, costs a little memory
    label: str = "SYNTHETIC"  # visible mark drawn top-left on every frame; "" = none
    detect_width: int = 640  # landmarks run on a copy at most this wide (scaled back); 0 = full size
    crf: int = 20  # x264 quality (lower = better and bigger; 18-23 is visually fine)
    preset: str = "ultrafast"  # x264 preset: at 720p ~15 ms CPU a frame vs ~30 for "veryfast", files ~2.9x larger
    target: str = "largest"  # which faces: "identity" (the source person's; needs their face set), "largest", "all"
    max_faces: int | None = None  # most faces per frame; None: 1 for "largest" (MediaPipe tracks it, cheapest), else 4
    cut_threshold: float = 10.0  # scene cut when the frame changes by > this many grey levels (and 3x the recent); 0 = off
    mask: str = "hull"  # "hull": landmark hull; "hull-hair": hull minus hair (hair segmentation model)
    detail: bool = True  # draw faces with the run's detail stage when it has one; False: the autoencoder's face, stretched

    def validate(self) -> "SwapOptions":
        """Check every knob; raises ``NAME=value: what to do`` (``Parameters.bad``); returns ``self``."""
        if self.direction not in DIRECTIONS:
            self.bad("direction", f"use one of {sorted(DIRECTIONS)}")
        if self.start is None or self.start < 0:
            self.bad("start", "must be >= 0 seconds")
        if self.duration is not None and self.duration <= 0:
            self.bad("duration", "must be > 0 seconds, or None for the rest of the input")
        if self.output_width is not None and not 16 <= self.output_width <= 7680:
            self.bad("output_width", "use a width in pixels between 16 and 7680, or None for the input's width")
        self.check_flags("side_by_side", "detail")
        if self.color not in blend.COLOR_MODES:
            self.bad("color", f"choose one of {blend.COLOR_MODES}")
        if self.blend not in blend.BLEND_MODES:
            self.bad("blend", f"choose one of {blend.BLEND_MODES}")
        if not 0 <= self.sharpen <= 3:
            self.bad("sharpen", "use an unsharp-mask amount from 0 (off) to 3; 0.5 is a light touch")
        for name in ("mask_erode", "mask_blur"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                self.bad(name, "must be a whole number of pixels >= 0")
        if self.smoothing < 0 or self.smoothing_beta < 0:
            self.bad("smoothing", "the One-Euro cutoff (Hz) and beta must be >= 0 (0 turns smoothing off)")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 256:
            self.bad("batch_size", "use 1..256 faces per model call")
        if not isinstance(self.label, str):
            self.bad("label", "give the mark to draw on every frame as text, or \"\" for none")
        if self.detect_width and self.detect_width < 128:
            self.bad("detect_width", "landmarks need >= 128 px; use 0 for full size")
        if not 0 <= self.crf <= 51:
            self.bad("crf", "x264 quality runs from 0 (lossless) to 51; 18-23 is usual")
        if self.preset not in X264_PRESETS:
            self.bad("preset", f"choose one of {X264_PRESETS}")
        if self.target not in targets.TARGETS:
            self.bad("target", f"choose one of {targets.TARGETS}")
        if self.max_faces is not None and (not isinstance(self.max_faces, int) or not 1 <= self.max_faces <= 16):
            self.bad("max_faces", "look for 1..16 faces per frame, or None for 1 with TARGET='largest' and 4 otherwise")
        if not 0 <= self.cut_threshold <= 255:
            self.bad("cut_threshold", "use a grey-level difference from 0 (off) to 255; 10 suits most footage")
        if self.mask not in masks.MASKS:
            self.bad("mask", f"choose one of {masks.MASKS}")
        return self


@dataclass
class SwapJob(Parameters):
    """04_swap's job: which run converts which input(s) to where; ``options`` holds the conversion's knobs.

    ``SwapJob.from_parameters(globals()).validate()`` is 04_swap's checking cell: it
    reads PROJECT, RUN, INPUT, ... into the job and DIRECTION, START, ... into
    ``options`` (one ``globals()``), checks them all before a frame is decoded, and
    keeps what it resolved in the ``init=False`` fields below.
    """

    project: str = "demo"  # the A/B experiment: reads weights/<project>/<run>/, writes data/<project>/output/
    run: str = "main"  # the trained run of ``project`` that converts
    input: str | Path = ""  # a video or photo, a folder or glob of them, a collected source's name, or a sample key
    output: str | Path = ""  # output file (a folder for a batch); "" = data/<project>/output/<input name>_<direction>.mp4
    preview_every: float = 5.0  # seconds between live previews while converting (with ``interactive``)
    data_dir: str | Path = "../data"
    weights_dir: str | Path = "../weights"
    interactive: bool = False  # the notebook shows the scrubber and live previews
    options: SwapOptions = field(default_factory=SwapOptions)

    run_dir: Path | None = field(init=False, default=None)  # weights/<project>/<run>/, trained
    batch: bool | None = field(init=False, default=None)  # INPUT is a folder or glob: one output per file
    inputs: list[Path] | None = field(init=False, default=None)  # the files to convert (one unless ``batch``)
    input_path: Path | None = field(init=False, default=None)  # the input (a batch: its first readable file)
    info: video.VideoInfo | None = field(init=False, default=None)  # ``video.verify`` of ``input_path``
    source_faces: Path | None = field(init=False, default=None)  # the source person's face set (TARGET="identity")
    output_path: Path | None = field(init=False, default=None)  # where ``input_path``'s swap goes
    output_dir: Path | None = field(init=False, default=None)  # where a batch writes its outputs
    reports: Path | None = field(init=False, default=None)  # data/<project>/reports/

    def validate(self) -> "SwapJob":
        """Check the project, the run, the input(s), the options, the source face set and the output; returns ``self``."""
        self.check_names("project")
        self.check_number("preview_every", 0, why="seconds between live previews", above=True)
        self.check_flags("interactive")
        self.run_dir = paths.run_dir(self.weights_dir, self.project, self.run)
        if not runs.is_trained(self.run_dir):
            raise FileNotFoundError(f"{self.run_dir} holds no trained run: run 03_train with PROJECT={self.project!r}, "
                                    f"RUN={self.run!r} first")
        self._resolve_input()
        o = self.options.validate()
        if not self.batch:
            _check_start(o, self.info, self.input_path)
        self.source_faces = paths.faces_dir(self.data_dir, self.project, o.direction[0]) if o.target == "identity" else None
        if self.source_faces is not None and not (self.source_faces / "summary.json").exists():  # a2b: the input shows A
            raise FileNotFoundError(f"TARGET='identity' swaps only person {o.direction[0]!r}'s faces and needs their face "
                                    f"set {self.source_faces}: run 02_align with PERSON={o.direction[0]!r}, "
                                    "or set TARGET='largest' or 'all'")
        self._resolve_output()
        self.reports = paths.reports_dir(self.data_dir, self.project)
        return self

    def _resolve_input(self) -> None:
        """``batch``, ``inputs``, and ``input_path`` with its ``info``, checked as 01_collect checks a video."""
        if not str(self.input):
            self.bad("input", "give a video or photo, a folder or glob of them, a collected source's name or a sample key")
        self.batch = is_batch(self.input) and not Path(self.input).is_file()
        self.inputs = input_files(self.input) if self.batch else [assets.resolve_media(self.input, self.data_dir, self.project)]
        try:  # an image renamed .mp4 or a cut-short file is refused here with its real cause
            self.input_path, self.info = first_readable(self.inputs) if self.batch else \
                (self.inputs[0], video.verify(self.inputs[0]))
        except video.VideoError as e:
            raise video.VideoError(f"INPUT={self.input!r}: {e}") from None

    def _resolve_output(self) -> None:
        """``output_path`` (the default is named after the input and the direction), ``output_dir``, and its ending."""
        default = self.output == ""
        direction = self.options.direction
        self.output_path = paths.output_file(self.data_dir, self.project, self.input_path, direction) if default \
            else Path(self.output)
        self.output_dir = self.output_path.parent if default else self.output_path  # a batch writes each output here
        ending = set(photos.PHOTO_EXTS) if self.info.codec == "image" else {".mp4"}
        if not self.batch and self.output_path.suffix.lower() not in ending:
            self.bad("output", f"must end in {' or '.join(sorted(ending))} for {self.input_path.name}")


def is_batch(value: str | Path) -> bool:
    """True for a glob pattern or a folder (each file in it is its own input)."""
    return any(c in str(value) for c in "*?[") or Path(value).is_dir()


def input_files(value: str | Path) -> list[Path]:
    """The media files of a folder (not recursive) or a glob pattern, sorted; raises if there are none."""
    value = str(value)
    if Path(value).is_dir():
        found = [p for p in sorted(Path(value).iterdir()) if p.is_file() and not p.name.startswith(".")]
    else:
        found = [Path(p) for p in sorted(glob.glob(value)) if Path(p).is_file()]
    found = [p for p in found if p.suffix.lower() in MEDIA_EXTS]
    if not found:
        raise FileNotFoundError(f"INPUT={value!r} matches no video or image ({', '.join(MEDIA_EXTS)}): "
                                "check the folder or pattern")
    return found


def first_readable(inputs: list[Path]) -> tuple[Path, video.VideoInfo]:
    """(path, info) of the first input ffmpeg can read (for the preview); raises if none can be."""
    for path in inputs:
        try:
            return path, video.verify(path)
        except video.VideoError:
            continue
    raise video.VideoError(f"INPUT: none of the {len(inputs)} files can be read as a video or image; check them")


@dataclass
class ConvertReport:
    """What a conversion did; ``asdict()`` goes to data/<project>/reports/04_swap.json."""

    input: str
    output: str
    direction: str
    start: float
    duration: float | None
    frames: int = 0  # frames written
    faces_swapped: int = 0
    frames_without_face: int = 0  # frames with no face swapped: passed through unchanged
    target: str = ""  # the options' target
    faces_seen: dict = field(default_factory=dict)  # kind ("source"/"other", "largest"/"other", "face") -> faces seen
    faces_swapped_by_kind: dict = field(default_factory=dict)  # kind -> faces swapped
    tracks: dict = field(default_factory=dict)  # kind -> distinct face tracks
    embedded: int = 0  # identity embeddings computed (track starts, never per frame)
    cuts: list = field(default_factory=list)  # [{"frame": n, "time": s}] scene cuts found
    seconds: float = 0.0  # wall time, model already loaded
    fps: float = 0.0  # frames / seconds
    width: int = 0  # output size
    height: int = 0
    ms_per_frame: dict = field(default_factory=dict)  # stage -> wall ms per frame spent in it (stages overlap)
    drawn_size: int = 0  # px of the faces the model drew (the detail stage's size, or the autoencoder's)
    stretch: float | None = None  # median frame px per drawn px over the swapped faces: > 1 means stretched, softer
    warnings: list = field(default_factory=list)
    options: dict = field(default_factory=dict)

    def asdict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class FaceJob:
    """One face located in one frame, ready for the model."""

    matrix: np.ndarray  # (2, 3) float64 frame px -> crop px
    crop: np.ndarray  # (S, S, 3) uint8 RGB aligned crop at the model's size: what the model reads
    landmarks: np.ndarray  # (478, 2) float64 in px of the drawn size (for the mask)
    track: int = -1  # the face track's id
    raw: np.ndarray | None = None  # (478, 2) float64 frame px as detected, before smoothing
    hair: np.ndarray | None = None  # (O, O) float32 hair probability in the drawn crop (MASK="hull-hair")
    ref: np.ndarray | None = None  # (O, O, 3) uint8: the input's face at the drawn size O (colour reference, seamless)
    out_matrix: np.ndarray | None = None  # (2, 3) frame px -> px of the drawn size (the paste)


def configure_threads(intra_op: int | None = None) -> bool:
    """Cap TensorFlow's thread pools; returns False if TF was already initialised (then nothing changes).

    Default: no inter-op pool (the model is a chain of convs: nothing to run side
    by side) and half the cores for intra-op work (1 on a 2-core CPU). The other
    half is for the locate thread (MediaPipe) and the ffmpeg decoder and encoder,
    which run at the same time: a TF thread per core would only spin-wait against
    them. Measured on 2 cores at 720p: 1 TF thread used 2-5 % less CPU per frame
    than 2 (74-76 vs 77-79 ms). Call this before loading a model; ``convert``
    calls it too (harmless when too late).
    """
    import os

    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(intra_op or max(1, (os.cpu_count() or 2) // 2))
        return True
    except RuntimeError:
        return False


def faces_to_find(o: SwapOptions) -> int:
    """MediaPipe's ``num_faces``: MAX_FACES, or by default 1 for "largest" and 4 for "identity" and "all".

    With one face MediaPipe tracks it from frame to frame and runs its detector only
    when the face is lost; with more it runs the detector on every frame in which
    it tracks fewer (~2 ms of CPU a frame at 720p). So "largest" with one face is
    the face MediaPipe tracks; MAX_FACES >= 2 makes it the largest of those seen.
    """
    if o.max_faces is not None:
        return o.max_faces
    return 1 if o.target == "largest" else 4


class FramePipeline:
    """The per-frame work of a conversion, shared by ``convert`` and ``preview_frame``.

    ``locate`` (cut check -> landmarks -> tracks and target -> smoothing ->
    alignment -> crop), ``swap_faces`` (one batched model call) and ``compose``
    (colour, mask, paste, label, side by side). ``timings`` accumulates seconds
    per stage; ``tracker`` counts faces by kind and ``cuts`` lists the scene cuts.
    ``reference``: the source person's (128,) identity (``targets.source_identity``),
    needed when ``options.target`` is "identity".
    """

    def __init__(self, model, options: SwapOptions, mode: str = "video", reference: np.ndarray | None = None):
        self.model, self.options, self.mode = runs.load_cascade(model), options.validate(), mode
        self.size = int(self.model.image_size)
        self.detail = self.model.detail if options.detail else None  # the target person's detail net draws the face again
        self.out_size = self.detail.size if self.detail is not None else self.size  # px of the faces pasted
        self.stretch: list[float] = []  # frame px per drawn px, per located face
        self.model.blender.reset()  # track ids start again: no exemplar weights carried over from another video
        on = options.smoothing > 0 and mode == "video"
        smoothing = (options.smoothing, options.smoothing_beta) if on else None
        self.tracker = targets.Tracker(options.target, reference, smoothing)
        self.cut = CutDetector(options.cut_threshold if mode == "video" else 0.0)
        self.cuts: list[dict] = []
        self.hair = masks.HairSegmenter() if options.mask == "hull-hair" else None
        self.landmarker = self._landmarker()
        self.timings = dict.fromkeys(STAGES, 0.0)

    def _landmarker(self):
        from swaplab.face.landmarks import Landmarker

        return Landmarker(self.mode, num_faces=faces_to_find(self.options), blendshapes=False)

    def close(self) -> None:
        self.landmarker.close()

    def _new_shot(self, index: int, t: float) -> None:
        """A scene cut: nothing carries over (tracks, smoothing, identity, hair, MediaPipe's own tracking)."""
        self.cuts.append({"frame": int(index), "time": round(float(t), 3)})
        self.tracker.reset()
        self.model.blender.reset()
        if self.hair is not None:
            self.hair.reset()
        self.landmarker.close()
        self.landmarker = self._landmarker()

    def locate(self, image: np.ndarray, t: float, index: int = 0) -> list[FaceJob]:
        """The faces to swap in an (H, W, 3) uint8 frame at ``t`` seconds (frame ``index``), aligned; [] if none."""
        t0 = time.perf_counter()
        if self.cut(image):
            self._new_shot(index, t)
        elif self.mode == "image":
            self.tracker.reset()  # stills are independent
        h, w = image.shape[:2]
        dw = self.options.detect_width
        scale = 1.0
        small = image
        if dw and w > dw:
            # MediaPipe resizes to 192-256 px inside anyway; a smaller copy saves its conversion work
            scale = w / dw
            small = cv2.resize(image, (dw, int(round(h / scale))), interpolation=cv2.INTER_LINEAR)
        faces = self.landmarker.detect(small, int(round(t * 1000)))
        t1 = time.perf_counter()
        self.timings["landmarks"] += t1 - t0
        chosen = self.tracker.update(image, [(f.landmarks * scale, f.size * scale) for f in faces], t)
        jobs = []
        for track, lms, raw in chosen:
            jobs.append(self._job(image, lms, track.id, raw))
        self.timings["align"] += time.perf_counter() - t1
        return jobs

    def _job(self, image: np.ndarray, lms: np.ndarray, track: int, raw: np.ndarray) -> FaceJob:
        """One face of the frame: its crop at the model's size and, at the size it is drawn at, the input's face,
        the landmarks, the paste's matrix and the hair."""
        matrix, crop, out, ref = align.face_crops(image, lms, self.size, self.out_size)
        job = FaceJob(matrix, crop, align.transform_points(lms, out), track, raw, ref=ref, out_matrix=out)
        if self.hair is not None:
            job.hair = self.hair(image, out, self.out_size, key=track if self.mode == "video" else None)
        self.stretch.append(1.0 / float(np.hypot(*out[0, :2])))  # frame px per drawn px
        return job

    def swap_faces(self, jobs: list[FaceJob]) -> np.ndarray:
        """(N, O, O, 3) float32 in [0, 1]: the jobs' crops rendered by the other side's decoder (one call), then
        drawn again at the detail stage's size O by the target's detail net (without one, O is the model's size)."""
        crops = np.stack([j.crop for j in jobs])  # (N, S, S, 3) uint8; the model scales to [0, 1]
        tracks = [j.track for j in jobs] if self.mode == "video" else None  # exemplars steady along each track
        return self.model.swap(crops, DIRECTIONS[self.options.direction], landmarks=[j.landmarks for j in jobs],
                               tracks=tracks, detail=self.detail is not None, timings=self.timings)

    def mask(self, job: FaceJob) -> np.ndarray:
        """(O, O) float32 in [0, 1]: the paste mask of ``job`` at the drawn size, under the options' MASK, erosion and blur."""
        k = self.out_size / 64  # the mask's knobs are in px of a 64 px crop: the same share of the face at any size
        o = self.options
        return masks.face_mask(job.landmarks, self.out_size, round(o.mask_erode * k), round(o.mask_blur * k), job.hair)

    def compose(self, image: np.ndarray, jobs: list[FaceJob], swapped) -> np.ndarray:
        """The output frame: (H, W or 2W, 3) uint8; ``swapped[i]`` is ``jobs[i]``'s face. ``image`` is never modified."""
        t0 = time.perf_counter()
        o = self.options
        h, w = image.shape[:2]
        # one allocation per frame: the output, into which the original is copied once
        out = np.empty((h, 2 * w if o.side_by_side else w, 3), np.uint8)
        if o.side_by_side:
            out[:, :w] = image
        right = out[:, w:] if o.side_by_side else out
        right[:] = image
        for job, face in zip(jobs, swapped):
            mask = self.mask(job)  # (O, O) float32
            ref = job.ref.astype(np.float32) * (1.0 / 255.0)
            face = blend.sharpen(np.ascontiguousarray(face, np.float32), o.sharpen, sigma=self.out_size / 128)
            face = blend.color_transfer(face, ref, mask, o.color)
            face8 = np.clip(face * 255.0 + 0.5, 0, 255).astype(np.uint8)
            if o.blend == "seamless":
                face8 = blend.seamless(face8, job.ref, mask)
            blend.paste(right, face8, mask, job.out_matrix)
        blend.put_label(right, o.label)
        self.timings["blend"] += time.perf_counter() - t0
        return out


def convert(
    input_path: str | Path,
    model,
    output: str | Path,
    options: SwapOptions | None = None,
    progress: bool | Callable[[int, int], None] = True,
    project: str | None = None,
    source=None,
    on_preview: Callable[[np.ndarray, np.ndarray], None] | None = None,
    preview_every: float = 5.0,
) -> ConvertReport:
    """Swap the faces in ``input_path`` (a video file, image folder or one image) and write ``output``.

    ``model``: a ``SwapModel`` or a run folder (see ``runs.load``; ``project`` checks
    its owner). ``source``: the source person's face set folder, crops or embedding
    (``targets.source_identity``), needed for ``target="identity"``. ``progress``:
    True for a tqdm bar, or a callable ``(frames_done, frames_total)`` called after
    each written frame (raising from it stops the run cleanly). ``on_preview``:
    called with (original, swapped) RGB frames every ``preview_every`` seconds of
    wall time. An image input writes an image (``convert_photo``). Returns a ``ConvertReport``.
    """
    o = (options or SwapOptions()).validate()
    info = _verify(input_path, o)
    reference = _reference(o, source)
    if info.codec == "image":
        return convert_photo(input_path, model, output, o, project=project, reference=reference)
    duration = o.duration
    configure_threads()
    model = runs.load_cascade(model, project)
    output = Path(output)
    remove_partial_outputs(output.parent)
    total = int(round((duration if duration is not None else info.duration - o.start) * info.fps))
    report = ConvertReport(str(input_path), str(output), o.direction, o.start, duration, options=dataclasses.asdict(o))
    reader = video.FrameReader(input_path, start=o.start, duration=duration, width=o.output_width)
    pipe = FramePipeline(model, o, mode="video", reference=reference)  # opens a landmarker, after the reader's checks
    meta = {"comment": SYNTHETIC_TAG, "description": SYNTHETIC_TAG,
            "title": f"{Path(input_path).stem} ({o.direction}, synthetic)", "encoder_app": "swaplab"}
    tick, close_bar = _progress(progress, total)
    located = _located(reader, pipe)
    preview = _Previewer(on_preview, preview_every, o.side_by_side)
    t_start = time.perf_counter()
    # an exception, KeyboardInterrupt or SIGTERM inside this block makes the writer stop ffmpeg and delete its
    # temporary file, and the ``finally`` stop the decoder; only then does a SIGTERM end the process
    with files.sigterm_unwinds():
        try:
            with video.VideoWriter(output, info.fps, audio_from=input_path, audio_start=o.start,
                                   audio_duration=duration, metadata=meta, crf=o.crf, preset=o.preset) as writer:
                for batch in _batches(located, o.batch_size):
                    _write_batch(batch, pipe, writer, report, tick, preview)
                t_close = time.perf_counter()
            pipe.timings["encode"] += time.perf_counter() - t_close  # the encoder's tail, the audio mux, the rename
        finally:
            located.close()  # stop the locate thread (and the decoder) before its landmarker is closed
            pipe.close()
            close_bar()
    report.seconds, report.frames = time.perf_counter() - t_start, writer.frames_written
    report.width, report.height = reader.out_size[0] * (2 if o.side_by_side else 1), reader.out_size[1]
    _finish_report(report, pipe, input_path, o)
    return report


def remove_partial_outputs(folder: str | Path) -> list[Path]:
    """Delete the hidden temporary files that conversions killed outright (kill -9, a crash) left in ``folder``,
    whatever output they were for, and print one line naming them; returns them. A live conversion's file stays."""
    removed = files.remove_stale_temps_in(folder)
    if removed:
        names = ", ".join(p.name for p in removed[:3]) + (f" and {len(removed) - 3} more" if len(removed) > 3 else "")
        print(f"removed {len(removed)} partial file{'s' * (len(removed) > 1)} that stopped runs left in {folder}: {names}")
    return removed


def _verify(input_path, o: SwapOptions) -> video.VideoInfo:
    """The input's ``video.verify``, with errors naming INPUT, and START within it."""
    try:  # the check 01_collect makes: an image renamed .mp4 or a cut-short file fails here, with its real cause
        info = video.verify(input_path)
    except video.VideoError as e:
        raise video.VideoError(f"INPUT: {e}") from None
    _check_start(o, info, input_path)
    return info


def _check_start(o: SwapOptions, info: video.VideoInfo, input_path) -> None:
    """Raise unless START falls inside the video (a photo or an image folder has no end to be past)."""
    if info.codec not in {"images", "image"} and o.start >= info.duration:
        raise ValueError(f"START={o.start:g}s is past the end of {input_path} ({info.duration:.2f}s): choose an earlier START")


def _reference(o: SwapOptions, source) -> np.ndarray | None:
    """The source person's identity for TARGET="identity" (None for the other targets)."""
    if o.target != "identity":
        return None
    if source is None:
        raise ValueError("TARGET='identity' swaps only the source person's faces and needs their face set "
                         "(source=data/<project>/<person>/faces from 02_align): give it, or use TARGET='largest' or 'all'")
    return targets.source_identity(source)


def _finish_report(report: ConvertReport, pipe: FramePipeline, input_path, o: SwapOptions) -> None:
    """Speed, face counts by kind, cuts, and the no-face warning."""
    report.fps = report.frames / max(report.seconds, 1e-9)
    report.ms_per_frame = {k: round(1000 * v / max(report.frames, 1), 2) for k, v in pipe.timings.items()}
    found = pipe.tracker.summary()
    report.target, report.cuts = o.target, list(pipe.cuts)
    report.faces_seen, report.faces_swapped_by_kind = found["faces_seen"], found["faces_swapped"]
    report.tracks, report.embedded = found["tracks"], found["embedded"]
    report.drawn_size = pipe.out_size
    report.stretch = round(float(np.median(pipe.stretch)), 2) if pipe.stretch else None
    if report.stretch is not None and report.stretch > STRETCH_WARNING:
        msg = (f"the faces span about {report.stretch * pipe.out_size:.0f} px in {Path(input_path).name}, but are drawn at "
               f"{pipe.out_size} px and stretched {report.stretch:.1f}x: they will look soft"
               + ("; a run with a detail stage (03_train's DETAIL_SIZE) draws them larger" if pipe.out_size < 256 else
                  "; a smaller OUTPUT_WIDTH, or 02_align's FACE_SIZE and DETAIL_SIZE above 256, keep them sharp"))
        report.warnings.append(msg)
        warnings.warn(msg, stacklevel=3)
    if report.faces_swapped == 0:
        seen = sum(report.faces_seen.values())
        why = f"{seen} faces were seen, none of them the target ({o.target})" if seen else "no face was found"
        msg = f"{why} in {input_path} [{o.start:g}s, +{o.duration or 'end'}]: the output is an unchanged copy"
        report.warnings.append(msg)
        warnings.warn(msg, stacklevel=3)


def convert_photo(input_path: str | Path, model, output: str | Path, options: SwapOptions | None = None,
                  project: str | None = None, reference: np.ndarray | None = None, source=None) -> ConvertReport:
    """Swap the faces of one image and write an image (.png/.jpg): labelled, and tagged synthetic in its metadata."""
    o = (options or SwapOptions()).validate()
    output = Path(output)
    photos.check_output(output)
    remove_partial_outputs(output.parent)
    reference = reference if reference is not None else _reference(o, source)
    configure_threads()
    model = runs.load_cascade(model, project)
    image = next(iter(video.FrameReader(input_path, width=o.output_width))).image
    report = ConvertReport(str(input_path), str(output), o.direction, 0.0, None, options=dataclasses.asdict(o))
    pipe = FramePipeline(model, o, mode="image", reference=reference)
    t0 = time.perf_counter()
    try:
        jobs = pipe.locate(image, 0.0)
        out = pipe.compose(image, jobs, pipe.swap_faces(jobs) if jobs else [])
    finally:
        pipe.close()
    photos.write_image(output, out, SYNTHETIC_TAG, f"{Path(input_path).stem} ({o.direction}, synthetic)")
    report.seconds, report.frames = time.perf_counter() - t0, 1
    report.faces_swapped, report.frames_without_face = len(jobs), int(not jobs)
    report.height, report.width = out.shape[:2]
    _finish_report(report, pipe, input_path, o)
    return report


class _Previewer:
    """Calls ``on_preview(original, swapped)`` at most every ``every`` seconds (the first frame at once)."""

    def __init__(self, on_preview, every: float, side_by_side: bool):
        self.on_preview, self.every, self.sbs = on_preview, float(every), side_by_side
        self.last = -float("inf")

    def __call__(self, original: np.ndarray, out: np.ndarray) -> None:
        if self.on_preview is None or time.perf_counter() - self.last < self.every:
            return
        self.last = time.perf_counter()
        self.on_preview(original, out[:, out.shape[1] // 2:] if self.sbs else out)


def _progress(progress, total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    """(tick(frames_done), close()) for a tqdm bar, a user callable, or nothing."""
    if callable(progress):
        return (lambda done: progress(done, total)), (lambda: None)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="frame", desc="swap")
        return (lambda done: bar.update(done - bar.n)), bar.close
    return (lambda done: None), (lambda: None)


def _located(reader: video.FrameReader, pipe: FramePipeline, ahead: int = 16):
    """Yield (frame, FaceJob | None) in order, the landmarks running in a thread ``ahead`` frames in front.

    Decode waits (the reader thread) are charged to "decode". The thread stops
    when the consumer does (an exception, a KeyboardInterrupt, or the end).
    """
    def produce(stop):
        frames = iter(reader)
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                frame = next(frames, None)
                pipe.timings["decode"] += time.perf_counter() - t0
                if frame is None:
                    return
                yield frame, pipe.locate(frame.image, frame.time, frame.index)
        finally:
            frames.close()  # stops the reader thread and kills ffmpeg

    return files.run_ahead(produce, ahead, "swaplab-locate")


def _batches(located, batch_size: int):
    """Group (frame, jobs) pairs into lists holding about ``batch_size`` faces, in order.

    Frames without a face ride along in order, but never pile up: a group with no
    face yet is passed on at once, and a group is cut at ``2 * batch_size`` frames,
    so a long stretch without faces costs no memory. The end of the stream flushes
    whatever is left, so the last frames are never held back.
    """
    batch, faces = [], 0
    for item in located:
        batch.append(item)
        faces += len(item[1])
        if faces == 0 or faces >= batch_size or len(batch) >= 2 * batch_size:
            yield batch
            batch, faces = [], 0
    if batch:
        yield batch


def _write_batch(batch, pipe: FramePipeline, writer: video.VideoWriter, report: ConvertReport, tick, preview) -> None:
    jobs = [job for _, frame_jobs in batch for job in frame_jobs]
    swapped = iter(pipe.swap_faces(jobs)) if jobs else iter(())
    for frame, frame_jobs in batch:
        out = pipe.compose(frame.image, frame_jobs, [next(swapped) for _ in frame_jobs])
        t0 = time.perf_counter()
        writer.write(out)  # blocks only when the encoder is behind: that wait is the "encode" cost
        pipe.timings["encode"] += time.perf_counter() - t0
        report.faces_swapped += len(frame_jobs)
        report.frames_without_face += not frame_jobs
        preview(frame.image, out)
        tick(writer.frames_written)


def preview_frame(
    input_path: str | Path,
    model,
    frame_index: int,
    options: SwapOptions | None = None,
    cache: dict | None = None,
    source=None,
) -> tuple[np.ndarray, np.ndarray]:
    """(original, swapped) RGB uint8 frames for frame ``frame_index`` of ``input_path``, as ``convert`` would make it.

    Runs ``FramePipeline`` on one frame (landmarks in image mode: no smoothing, no
    tracks; "identity" embeds each face of the frame). ``source`` as in ``convert``.
    ``cache``: a dict kept between calls; the decoded frame, its faces and the model's
    output are reused, so moving a mask or colour control re-blends in milliseconds.
    ``options.side_by_side`` is ignored (the caller shows both).
    """
    o = dataclasses.replace((options or SwapOptions()).validate(), side_by_side=False)
    cache = {} if cache is None else cache
    if cache.get("model_of") is not model:  # a run folder is loaded once, not for every frame the scrubber shows
        cache.update(model=runs.load_cascade(model), model_of=model)
    model = cache["model"]
    built = (id(model), o.target, o.mask, o.max_faces, o.detail, id(source))  # what the pipeline itself depends on
    pipe = cache.get("pipeline")
    if pipe is None or cache.get("built") != built:
        if pipe is not None:
            pipe.close()
        pipe = cache["pipeline"] = FramePipeline(model, o, mode="image", reference=_reference(o, source))
        cache["built"] = built
        cache.pop("key", None)  # another model, target or mask: the cached faces are stale
    pipe.options = o
    key = (str(input_path), int(frame_index), o.direction, o.output_width, o.detect_width)
    if cache.get("key") != key:
        info = video.probe(input_path)
        if not 0 <= frame_index < max(info.frame_count, 1):
            raise ValueError(f"frame {frame_index} is outside {input_path} (0..{info.frame_count - 1})")
        reader = video.FrameReader(input_path, start=frame_index / info.fps, width=o.output_width)
        frames = iter(reader)
        frame = next(frames).image
        frames.close()  # stops the decoder now, not at garbage collection
        jobs = pipe.locate(frame, 0.0)
        swapped = list(pipe.swap_faces(jobs)) if jobs else []
        cache.update(key=key, frame=frame, jobs=jobs, swapped=swapped)
    frame = cache["frame"]
    return frame, pipe.compose(frame, cache["jobs"], cache["swapped"])
