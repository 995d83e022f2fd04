"""Live swap (07_live): camera frames in, original | swapped out, through 04_swap's per-frame pipeline.

The browser (``swaplab.notebook.live_widget``) grabs the camera with getUserMedia, shrinks each
frame to fit 640x360, and sends it as a JPEG over the widget's comm; ``LiveSession`` swaps it
with the run's full pipeline (tracking, One-Euro smoothing, the detail stage or not, mask, colour,
the visible label) and answers with one JPEG of original | swapped. Per frame::

    JPEG decode -> landmarks (MediaPipe VIDEO mode, tracked) -> smoothing -> align -> model -> [detail]
      -> colour + mask + paste + label -> [inset: the decoder's face beside the detail stage's]
      -> JPEG encode -> [record: the swapped half into the mp4]

Frames are dropped, never queued: the front end sends a frame only after the answer to the one before,
and ``LiveSession.submit`` keeps just the newest for its worker thread (a slot, counting what it overwrote):
the latency stays one frame's work however slow the machine, the frame rate is what it can do.

``open_pipeline`` is the ONE place that calls ``swaplab.swap.pipeline`` (``FramePipeline``,
``SwapOptions``); everything else here works on what it returns (``Step``).

``Recorder`` writes the swapped half of each answered frame to an mp4 through
``video.VideoWriter`` (atomic: a temporary file renamed on close), labelled by the pipeline and
tagged synthetic in its metadata as 04_swap's outputs are, at a constant frame rate: a frame is
repeated until the next one arrives, so the file plays in real time.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from swaplab import SYNTHETIC_TAG
from swaplab.core import paths, video
from swaplab.core.params import Parameters
from swaplab.model import runs
from swaplab.swap import pipeline as swap

MAX_WIDTH, MAX_HEIGHT = 640, 360  # frames are shrunk to fit this box (the browser does it; the kernel checks)
STAGES = ("decode", "landmarks", "align", "model", "detail", "blend", "inset", "encode", "record")
REBUILD = ("direction", "detail", "mask", "smoothing")  # options a FramePipeline is built with: a change builds a new one
CONTROLS = ("direction", "detail", "mask", "color", "smoothing", "show_decoder")  # what the widget can change live
NO_FACE = "no face in view: face the camera in good light (frames pass through unswapped)"
NO_DETAIL = "this run has no detail stage (03_train's DETAIL_SIZE adds one): the autoencoder's face is shown, stretched"
BAD_JPEG = "a frame from the browser was not a readable JPEG: skipped"


@dataclass
class LiveConfig(Parameters):
    """07_live's settings; ``LiveConfig.from_parameters(globals()).validate()`` is its checking cell."""

    project: str = "demo"  # reads weights/<project>/<run>/, records to data/<project>/output/live_<direction>_<time>.mp4
    run: str = "main"
    direction: str = "a2b"  # the camera shows A ("a2b") and is drawn as B; "b2a", "a2a", "b2b" as in 04_swap
    detail: bool = True  # the run's detail stage on (when it has one)
    mask: str = "hull"  # 04_swap's MASK
    color: str = "rct"  # 04_swap's COLOR
    smoothing: float = 1.0  # One-Euro cutoff in Hz; 0 = off
    show_decoder: bool = False  # inset the decoder's own face (and the detail stage's) in the swapped half
    label: str = "SYNTHETIC"  # the visible mark on every frame; a live swap always carries one
    jpeg_quality: int = 80  # of the frames sent back to the browser
    record_fps: float = 15.0  # frame rate of recordings (frames are repeated until the next one arrives)
    stand_in: str = "samples/grid/s1/bbaf2n.mpg"  # a headless run (INTERACTIVE=False) plays this clip as the camera
    data_dir: str | Path = "../data"
    weights_dir: str | Path = "../weights"
    interactive: bool = False  # show the live widget (a browser with a camera); False: swap STAND_IN through the same code

    run_dir: Path | None = field(init=False, default=None)
    output_dir: Path | None = field(init=False, default=None)  # where recordings go
    has_detail: bool | None = field(init=False, default=None)  # the run has a detail stage
    stand_in_path: Path | None = field(init=False, default=None)  # STAND_IN resolved (headless runs only)

    def validate(self) -> "LiveConfig":
        self.check_names("project", "run")
        self.check_flags("show_decoder", "interactive")
        self.check_whole("jpeg_quality", 30, 100, why="JPEG quality of the frames shown")
        self.check_number("record_fps", 1, 60, why="frames per second of a recording")
        if not isinstance(self.label, str) or not self.label.strip():
            self.bad("label", "a live swap always carries a visible mark: give one, e.g. 'SYNTHETIC'")
        self.options()  # every pipeline knob checked, errors naming the parameter
        self.run_dir = paths.run_dir(self.weights_dir, self.project, self.run)
        if not runs.is_trained(self.run_dir):
            raise FileNotFoundError(f"{self.run_dir} holds no trained run: run 03_train with PROJECT={self.project!r}, "
                                    f"RUN={self.run!r} first (or check WEIGHTS_DIR)")
        saved = runs.has_detail(self.run_dir) or (self.run_dir / runs.DETAIL_EXPORT).exists()
        self.has_detail = saved and bool(runs.read_config(self.run_dir).get("detail_spec"))  # as runs.load_detail decides
        self.output_dir = paths.output_dir(self.data_dir, self.project)
        if not self.interactive:
            from swaplab.core import assets

            self.stand_in_path = assets.resolve_media(self.stand_in, self.data_dir, self.project, what="STAND_IN")
        return self

    def options(self) -> swap.SwapOptions:
        """The pipeline's options for these settings, checked."""
        return live_options(swap.SwapOptions(direction=self.direction, detail=self.detail, mask=self.mask, color=self.color,
                                             smoothing=self.smoothing, label=self.label))


def live_options(options: swap.SwapOptions) -> swap.SwapOptions:
    """``options`` as a live swap runs them: original | swapped, one face (the one MediaPipe tracks), one per call."""
    return dataclasses.replace(options, side_by_side=True, target="largest", max_faces=None, batch_size=1,
                               output_width=None, start=0.0, duration=None).validate()


@dataclass
class Step:
    """What the pipeline made of one frame."""

    out: np.ndarray  # (H, 2W, 3) uint8: original | swapped (labelled)
    faces: int  # faces swapped
    decoder: list  # per face: the autoencoder's own face, (s, s, 3) float32 in [0, 1]
    drawn: list  # per face: the face pasted, (O, O, 3) float32 (the detail stage's, or the decoder's)
    seconds: dict  # pipeline stage -> seconds spent on this frame
    detail: bool  # the detail stage drew this frame


class _Tap:
    """Stands in for the detail net inside ``open_pipeline``: keeps the decoder's faces it is given, then draws as the net."""

    def __init__(self, net):
        self.net, self.seen = net, None

    def __getattr__(self, name):
        return getattr(self.net, name)

    def enhance(self, faces, *args, **kwargs):
        self.seen = faces
        return self.net.enhance(faces, *args, **kwargs)


def open_pipeline(model) -> tuple[Callable[[np.ndarray, float, swap.SwapOptions], Step], Callable[[], None]]:
    """THE adapter to ``swap.pipeline``: ``(step, close)`` for a loaded ``model`` (a ``detail.Cascade``).

    ``step(image, t, options)`` swaps one (H, W, 3) uint8 RGB frame taken at ``t`` seconds (strictly increasing)
    with ``options`` (``live_options``). A ``FramePipeline`` is built on the first call and again when an option
    in ``REBUILD`` changes (tracks and smoothing start over); colour changes apply at once. ``close()`` frees it.
    """
    state: dict = {"pipe": None, "key": None, "index": 0}

    def step(image: np.ndarray, t: float, options: swap.SwapOptions) -> Step:
        key = tuple(getattr(options, k) for k in REBUILD)
        pipe = state["pipe"]
        if pipe is None or state["key"] != key:
            close()
            pipe = state["pipe"] = swap.FramePipeline(model, options, mode="video")
            state["key"] = key
        if model.detail is not None and not isinstance(model.detail, _Tap):
            model.detail = _Tap(model.detail)  # the cascade's net, tapped once: the pipeline draws through model.swap
        pipe.options = options
        before = dict(pipe.timings)
        state["index"] += 1
        jobs = pipe.locate(image, t, state["index"])
        tap = model.detail if pipe.detail is not None else None
        if tap is not None:
            tap.seen = None
        drawn = list(pipe.swap_faces(jobs)) if jobs else []
        decoder = list(tap.seen) if tap is not None and tap.seen is not None and jobs else drawn
        out = pipe.compose(image, jobs, drawn)
        seconds = {k: v - before.get(k, 0.0) for k, v in pipe.timings.items()}
        return Step(out, len(jobs), decoder, drawn, seconds, pipe.detail is not None)

    def close() -> None:
        if state["pipe"] is not None:
            state["pipe"].close()
            state["pipe"] = None

    return step, close


@dataclass
class LiveFrame:
    """The answer to one frame: a JPEG of original | swapped and what the widget shows beside it."""

    jpeg: bytes | None  # None when the frame was skipped (``message`` says why)
    meta: dict  # id and t echoed from the browser; faces, message, ms per stage, kernel_ms, recording
    pair: np.ndarray | None = None  # (H, 2W, 3) uint8 RGB, what ``jpeg`` holds


class Recorder:
    """A live session's recording: the swapped half of each frame, labelled, tagged synthetic, at ``fps``."""

    def __init__(self, path: str | Path, fps: float, direction: str):
        meta = {"comment": SYNTHETIC_TAG, "description": SYNTHETIC_TAG, "title": f"live camera ({direction}, synthetic)",
                "encoder_app": "swaplab"}
        self.path, self.fps = Path(path), float(fps)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = video.VideoWriter(self.path, self.fps, metadata=meta, crf=23, preset="ultrafast")
        self.t0: float | None = None
        self.size: tuple[int, int] | None = None  # (h, w) of the file's frames
        self.frames = 0  # frames in the file so far (repeats included)
        self.shown = 0  # distinct frames in it

    def write(self, frame: np.ndarray, t: float) -> None:
        """Add ``frame`` (H, W, 3) uint8 taken at ``t`` seconds: repeated to fill the time since the last one, or left
        out when it comes before the file's next frame is due (the file plays in real time at ``fps``)."""
        if self.t0 is None:
            self.t0 = t
        due = int((t - self.t0) * self.fps) + 1  # frames the file should hold up to t
        if due - self.frames > 2 * self.fps:  # a stall of over 2 s (the camera paused): the file skips it
            self.t0 = t - self.frames / self.fps
            due = self.frames + 1
        if due <= self.frames:
            return
        self.size = self.size or frame.shape[:2]
        if frame.shape[:2] != self.size:  # the camera changed size mid-recording: keep the file's
            frame = cv2.resize(frame, self.size[::-1], interpolation=cv2.INTER_AREA)
        for _ in range(due - self.frames):
            self.writer.write(frame)
        self.frames = due
        self.shown += 1

    def close(self) -> Path | None:
        """Finish the file; returns its path, or None (nothing recorded: no file)."""
        if self.frames == 0:
            self.writer.abort()
            return None
        return self.writer.close()

    def abort(self) -> None:
        self.writer.abort()


def decode_jpeg(data: bytes) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB from JPEG bytes, shrunk to fit MAX_WIDTH x MAX_HEIGHT; None if unreadable."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if bgr is None:
        return None
    return fit(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def fit(image: np.ndarray) -> np.ndarray:
    """``image`` shrunk (never grown) to fit MAX_WIDTH x MAX_HEIGHT, aspect kept, sides even."""
    h, w = image.shape[:2]
    s = min(1.0, MAX_WIDTH / w, MAX_HEIGHT / h)
    if s >= 1.0:
        return image
    size = (max(2, int(w * s) // 2 * 2), max(2, int(h * s) // 2 * 2))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def encode_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])[1].tobytes()


def draw_inset(pair: np.ndarray, decoder: np.ndarray, drawn: np.ndarray | None) -> None:
    """IN PLACE: the decoder's face (and the detail stage's, when it drew one) in the swapped half's bottom-right
    corner, each a third of the frame high, captioned with its own size in px."""
    h, w2 = pair.shape[:2]
    k = max(32, h // 3)
    faces = [(decoder, "decoder")] + ([(drawn, "detail")] if drawn is not None else [])
    x = w2 - k * len(faces)
    for face, name in faces:
        size = face.shape[0]
        tile = np.clip(cv2.resize(np.asarray(face, np.float32), (k, k), interpolation=cv2.INTER_NEAREST) * 255 + 0.5,
                       0, 255).astype(np.uint8)
        cv2.putText(tile, f"{name} {size}px", (3, k - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
        pair[h - k:, x:x + k] = tile
        x += k


def recording_path(output_dir: str | Path, direction: str) -> Path:
    """data/<project>/output/live_<direction>_<YYYYmmdd-HHMMSS>.mp4 (a second later if that one exists)."""
    now = datetime.now()
    while True:
        path = Path(output_dir) / f"live_{direction}_{now:%Y%m%d-%H%M%S}.mp4"
        if not path.exists():
            return path
        now = datetime.fromtimestamp(now.timestamp() + 1)


class LiveSession:
    """The kernel side of the live widget: frames in (``submit`` or ``process``), ``LiveFrame`` answers out.

    ``model``: a run folder or a loaded ``detail.Cascade``. ``on_answer(frame)`` is called from the worker thread
    with each answer to a ``submit``ted frame. ``set(**controls)`` changes the options (``CONTROLS``) between frames;
    ``start_recording`` / ``stop_recording`` write the answered frames' swapped halves to an mp4.
    """

    def __init__(self, model, config: LiveConfig, on_answer: Callable[[LiveFrame], None] | None = None):
        self.model = runs.load_cascade(model)
        self.config = config
        self.options = config.options()
        self.show_decoder = bool(config.show_decoder)
        self.has_detail = self.model.detail is not None
        self.on_answer = on_answer
        self._step, self._close = open_pipeline(self.model)
        self._slot: tuple | None = None
        self._wake = threading.Condition()
        self._busy = threading.Lock()  # held while a frame is swapped: closing waits for it
        self._rec_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.recorder: Recorder | None = None
        self.received = self.answered = self.dropped = 0
        self.recent: deque = deque(maxlen=100)  # ms per stage of the last frames answered
        self._t_last = -1.0  # seconds of the last frame given to the pipeline (its clock must only go forward)
        self._t0: float | None = None

    def notes(self) -> list[str]:
        """Lines the widget shows for as long as they hold (not per frame): a run without a detail stage."""
        return [NO_DETAIL] if self.options.detail and not self.has_detail else []

    def set(self, **controls) -> None:
        """Change any of ``CONTROLS``; a bad value raises naming it, and nothing changes."""
        unknown = set(controls) - set(CONTROLS)
        if unknown:
            raise ValueError(f"live controls are {CONTROLS}, not {sorted(unknown)}")
        show = controls.pop("show_decoder", self.show_decoder)
        if not isinstance(show, bool):
            raise ValueError(f"SHOW_DECODER={show!r}: must be True or False")
        self.options = live_options(dataclasses.replace(self.options, **controls))
        self.show_decoder = show

    def submit(self, data: bytes, meta: dict | None = None) -> None:
        """Hand a frame to the worker thread without waiting; a frame still waiting there is dropped for it."""
        with self._wake:
            if self._stopped:
                return
            self.received += 1
            if self._slot is not None:
                self.dropped += 1
            self._slot = (bytes(data), dict(meta or {}))
            self._wake.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, daemon=True, name="swaplab-live")
                self._thread.start()

    def _work(self) -> None:
        while True:
            with self._wake:
                while self._slot is None and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
                (data, meta), self._slot = self._slot, None
            try:
                answer = self.process(data, meta)
            except Exception as e:  # noqa: BLE001 - no caller to raise to: the widget shows one line
                answer = LiveFrame(None, {**meta, "message": f"the swap failed on a frame: {type(e).__name__}: {e}"})
            if self.on_answer is not None:
                self.on_answer(answer)

    def process(self, data: bytes, meta: dict | None = None) -> LiveFrame:
        """Swap one JPEG frame now; ``meta["t"]``: its capture time in ms (the browser's clock), echoed back."""
        meta = dict(meta or {})
        t0 = time.perf_counter()
        image = decode_jpeg(data)
        if image is None:
            return LiveFrame(None, {**meta, "message": BAD_JPEG})
        return self.swap_image(image, meta, decode_s=time.perf_counter() - t0)

    def swap_image(self, image: np.ndarray, meta: dict | None = None, decode_s: float = 0.0) -> LiveFrame:
        """Swap one (H, W, 3) uint8 RGB frame (shrunk to fit 640x360 first); ``meta`` as in ``process``."""
        meta = dict(meta or {})
        start = time.perf_counter()
        image = fit(image)
        with self._busy:
            if self._stopped:
                return LiveFrame(None, {**meta, "message": "the live session is closed"})
            step = self._step(image, self._clock(meta.get("t")), self.options)
        ms = {k: 0.0 for k in STAGES}
        ms.update({k: 1000 * v for k, v in step.seconds.items() if k in ms})
        ms["decode"] = 1000 * decode_s
        t = time.perf_counter()
        if self.show_decoder and step.faces:
            draw_inset(step.out, step.decoder[0], step.drawn[0] if step.detail else None)
        ms["inset"] = 1000 * (time.perf_counter() - t)
        t = time.perf_counter()
        jpeg = encode_jpeg(step.out, self.config.jpeg_quality)
        ms["encode"] = 1000 * (time.perf_counter() - t)
        t = time.perf_counter()
        recording = self._record(step)
        ms["record"] = 1000 * (time.perf_counter() - t)
        self.answered += 1
        self.recent.append(ms)
        meta.update(faces=step.faces, message="" if step.faces else NO_FACE, detail=step.detail,
                    ms={k: round(v, 1) for k, v in ms.items()}, recording=recording, dropped=self.dropped,
                    kernel_ms=round(1000 * (time.perf_counter() - start) + ms["decode"], 1))
        return LiveFrame(jpeg, meta, step.out)

    def _clock(self, t_ms) -> float:
        """Seconds for the pipeline's clock: the browser's capture time (ms) from the first frame, or the kernel's
        own; always at least 1 ms after the last (MediaPipe's VIDEO mode and the smoothing need it)."""
        now = float(t_ms) / 1000.0 if t_ms is not None else time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        t = max(now - self._t0, self._t_last + 0.001)
        self._t_last = t
        return t

    def _record(self, step: Step) -> int:
        """Write the swapped half to the recording, if one is running; returns the frames recorded so far (0: none)."""
        with self._rec_lock:
            if self.recorder is None:
                return 0
            w = step.out.shape[1] // 2
            self.recorder.write(step.out[:, w:], self._t_last)
            return self.recorder.shown

    def start_recording(self, path: str | Path | None = None) -> Path:
        """Record from the next answered frame on into ``path`` (default: ``recording_path``); returns it."""
        with self._rec_lock:
            if self.recorder is not None:
                raise RuntimeError(f"already recording to {self.recorder.path}: stop that first")
            path = Path(path) if path else recording_path(self.config.output_dir, self.options.direction)
            self.recorder = Recorder(path, self.config.record_fps, self.options.direction)
            return path

    def stop_recording(self) -> tuple[Path | None, int, float]:
        """Finish the recording: (its path or None if no frame came, distinct frames, seconds); (None, 0, 0) if none ran."""
        with self._rec_lock:
            rec, self.recorder = self.recorder, None
        if rec is None:
            return None, 0, 0.0
        path = rec.close()
        return path, rec.shown, rec.frames / rec.fps

    def stage_ms(self) -> dict:
        """Median ms per stage over the recent frames (STAGES order), and "total"."""
        if not self.recent:
            return {}
        out = {k: float(np.median([r[k] for r in self.recent])) for k in STAGES}
        out["total"] = float(np.median([sum(r.values()) for r in self.recent]))
        return out

    def close(self) -> None:
        """Stop the worker, finish a recording, free the pipeline (MediaPipe's landmarker). Safe to call twice."""
        with self._wake:
            self._stopped = True
            self._slot = None
            self._wake.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self.stop_recording()
        with self._busy:
            self._close()


def as_camera(image: np.ndarray) -> np.ndarray:
    """A video frame as a 640x360 camera would give it: scaled to fit, black bars on the sides (or top and bottom)."""
    h, w = image.shape[:2]
    s = min(MAX_WIDTH / w, MAX_HEIGHT / h)
    nw, nh = min(MAX_WIDTH, int(round(w * s))), min(MAX_HEIGHT, int(round(h * s)))
    out = np.zeros((MAX_HEIGHT, MAX_WIDTH, 3), np.uint8)
    x, y = (MAX_WIDTH - nw) // 2, (MAX_HEIGHT - nh) // 2
    out[y:y + nh, x:x + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out


def play_camera(session: LiveSession, frames: list, fps: float = 30.0, quality: int = 80) -> dict:
    """Play ``frames`` (640x360 RGB) as a camera at ``fps`` through ``session`` the way the browser does, in real time.

    Frame k of the camera exists from k / fps seconds on. After each answer the newest frame is taken (the ones
    that came meanwhile are dropped), encoded as JPEG, swapped (``process``) and its answer decoded: the latency
    is from the frame's capture to its answer decoded. Returns frames shown, camera frames dropped, fps, latency
    percentiles (ms), faces found, and ``session.stage_ms()``.
    """
    latencies, faces, last = [], 0, -1
    start = time.perf_counter()
    while True:
        now = time.perf_counter() - start
        k = int(now * fps)
        if k >= len(frames):
            break
        if k == last:  # nothing new from the camera yet
            time.sleep((k + 1) / fps - now)
            continue
        last, captured = k, start + k / fps
        answer = session.process(encode_jpeg(frames[k], quality), {"id": k, "t": captured * 1000})
        if answer.jpeg is not None:
            cv2.imdecode(np.frombuffer(answer.jpeg, np.uint8), cv2.IMREAD_COLOR)  # the browser's work to show it
        latencies.append(1000 * (time.perf_counter() - captured))
        faces += bool(answer.meta.get("faces"))
    seconds = time.perf_counter() - start
    p = np.percentile(latencies, [50, 90, 99]) if latencies else [float("nan")] * 3
    return {"shown": len(latencies), "camera_frames": len(frames), "dropped": len(frames) - len(latencies),
            "fps": len(latencies) / seconds, "latency_ms": {"p50": float(p[0]), "p90": float(p[1]), "p99": float(p[2])},
            "with_face": faces, "stage_ms": session.stage_ms()}


def play_stand_in(model, config: LiveConfig, fps: float = 25.0) -> dict:
    """07_live headless: STAND_IN as a 640x360 camera through ``play_camera``, recorded; its figures plus
    "recording" (the path), "seconds" (recorded) and "still" (the middle frame's ``LiveFrame``)."""
    session = LiveSession(model, config)
    try:
        frames = [as_camera(f.image) for f in video.FrameReader(config.stand_in_path)]
        session.start_recording()
        result = play_camera(session, frames, fps=fps)
        result["recording"], _, result["seconds"] = session.stop_recording()
        result["still"] = session.swap_image(frames[len(frames) // 2])
    finally:
        session.close()
    return result
