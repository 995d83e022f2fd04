"""02_align's parameters: ``AlignConfig``, every knob of ``align_person``, and the thresholds' defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from swaplab.core import paths
from swaplab.core.params import Parameters
from swaplab.face.faceset import FACE_SIZE

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
