"""04_swap's knobs and its job: ``SwapOptions`` (every knob of a conversion) and ``SwapJob`` (the notebook's checking
cell: project, run, input(s), output and options, all checked and resolved before a frame is decoded). INPUT may
be a folder or glob (``is_batch``, ``input_files``): ``batch.convert_many`` then converts each file."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from swaplab.core import assets, paths, photos, video
from swaplab.core.params import Parameters
from swaplab.core.paths import DIRECTIONS
from swaplab.face import blend, masks
from swaplab.model import runs
from swaplab.swap import targets

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
    smoothing: float = 0.0  # One-Euro min cutoff in Hz for the face's rigid motion (lower = steadier); 0 = off (docs/ablation.md)
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



def _check_start(o: SwapOptions, info: video.VideoInfo, input_path) -> None:
    """Raise unless START falls inside the video (a photo or an image folder has no end to be past)."""
    if info.codec not in {"images", "image"} and o.start >= info.duration:
        raise ValueError(f"START={o.start:g}s is past the end of {input_path} ({info.duration:.2f}s): choose an earlier START")

