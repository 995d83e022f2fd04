"""05_evaluate's parameters (``EvalConfig``) and which swap it scores (``locate_swap``).

``EvalConfig.from_parameters(globals()).validate()`` checks names, direction and numbers first, then finds
every file before the slow work: the input, the swap ``locate_swap`` finds, both face sets, the other
identities, the trained run, and whether the run trained on the input (``provenance.check_clip``: a seen
self-swap is refused unless ALLOW_SEEN, and then every figure is labelled "seen").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from swaplab.core import assets, files, paths, video
from swaplab.core.params import Parameters
from swaplab.judge import provenance
from swaplab.judge.galleries import other_identities

IDENTITY_FRAMES = 40  # swapped faces embedded per video, spread evenly (40 give retrieval to +-5 %)

# ---------------------------------------------------------------- which swap to score


def locate_swap(data_dir: str | Path, project: str, input_video: str | Path, direction: str, swapped: str | Path = "") -> dict:
    """{"swapped": Path, "start": s, "duration": s or None, "from": how it was found, "report": 04_swap's report of
    this very swap or None} for a swap of ``input_video``.

    ``swapped`` given: that file, range 0..end. Else 04_swap's report
    (``reports/04_swap.json``) when it describes this input and direction, with
    its range; else 04_swap's default ``output/<input stem>_<direction>.mp4``.
    The report is kept when its output is the swapped file (its counts describe it).
    """
    report = files.read_json(paths.reports_dir(data_dir, project) / "04_swap.json", default={}) or {}
    ours = bool(report.get("output")) and Path(report.get("input", "")).name == Path(input_video).name \
        and report.get("direction") == direction
    if swapped:
        found = {"swapped": Path(swapped), "start": 0.0, "duration": None, "from": "SWAPPED"}
    elif ours:
        found = {"swapped": Path(report["output"]), "start": float(report.get("start") or 0.0),
                 "duration": report.get("duration"), "from": "reports/04_swap.json"}
    else:
        found = {"swapped": paths.output_file(data_dir, project, input_video, direction),
                 "start": 0.0, "duration": None, "from": "04_swap's default output path"}
    if not found["swapped"].exists():
        raise FileNotFoundError(f"{found['swapped']} (from {found['from']}) does not exist: run 04_swap on "
                                f"{Path(input_video).name} with DIRECTION={direction!r} first, or set SWAPPED")
    same = ours and Path(report["output"]).resolve() == found["swapped"].resolve()
    found["report"] = report if same else None
    return found


# ---------------------------------------------------------------- 05_evaluate's parameters


@dataclass
class EvalConfig(Parameters):
    """05_evaluate's parameters (``EvalConfig.from_parameters(globals()).validate()``); defaults as in its parameters cell.

    ``validate()`` checks every name and finds every file before the measuring (a typo fails in a second), and
    resolves ``source``/``target`` (the person in INPUT and the one swapped in), ``input_path``, ``input_info``,
    ``swap`` (``locate_swap``), ``faces``, ``others`` (``other_identities``), ``run_dir``, ``seen`` (``leak_guard``),
    ``reports`` and ``metrics_json`` (``reports/metrics_<direction>.json``).
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
    allow_seen: bool = False  # score a self-swap on a clip the run trained on, every figure labelled "seen"
    source: str = field(init=False, default=None)
    target: str = field(init=False, default=None)
    input_path: Path = field(init=False, default=None)
    input_info: video.VideoInfo = field(init=False, default=None)
    swap: dict = field(init=False, default=None)  # {"swapped", "start", "duration", "from"}
    faces: dict = field(init=False, default=None)  # {person: faces dir} of PERSON_A and PERSON_B
    others: dict = field(init=False, default=None)  # {name: faces dir}
    run_dir: Path = field(init=False, default=None)
    seen: dict = field(init=False, default=None)  # provenance.check_clip: {"seen", "sha256", "overlap", "provenance", "line"}
    reports: Path = field(init=False, default=None)
    metrics_json: Path = field(init=False, default=None)

    def validate(self) -> EvalConfig:
        """Check every field, then find the input, the swap, the face sets and the run; returns ``self``."""
        self._check_values()
        return self._find_files()

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
        self.check_flags("interactive", "allow_seen")
        self.source, self.target = ({"a": self.person_a, "b": self.person_b}[side] for side in self.direction[::2])

    def _find_files(self) -> EvalConfig:
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
        self.seen = leak_guard(self)
        self.reports = paths.reports_dir(self.data_dir, self.project)
        self.metrics_json = self.reports / f"metrics_{self.direction}.json"
        return self
    def _naming(self, name: str, error: type[Exception], check, *args):
        """``check(*args)``; an ``error`` it raises is raised again as ``NAME=value: <its first line>``."""
        try:
            return check(*args)
        except error as e:
            why = str(e).splitlines()[0]
        self.bad(name, why, error)  # outside the except: one error, not a chain of two



def leak_guard(config: EvalConfig) -> dict:
    """``provenance.check_clip`` of the config's INPUT against its run; a self-swap on a clip the run trained on (by
    SHA-256) is refused, in one line naming the overlap, unless ALLOW_SEEN."""
    seen = provenance.check_clip(config.run_dir, config.input_path, config.data_dir, config.project,
                                 (config.person_a, config.person_b))
    if seen["seen"] and config.source == config.target and not config.allow_seen:
        config.bad("input", f"{seen['line']}: a self-swap on it scores the run's memory; give a held-back clip, "
                            "or set ALLOW_SEEN=True to score it with every figure labelled \"seen\"")
    return seen
