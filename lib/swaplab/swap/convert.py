"""The convert loop: decode, locate (a thread ahead), draw in batches, compose, encode; its report.

``convert`` checks its input before any slow work and writes the output atomically; ``convert_photo`` does one
image. Threads: ``_located`` runs the landmarks ``ahead`` frames in front, ffmpeg decodes and encodes in its own
processes (see ``swaplab.swap.pipeline``)."""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from swaplab import SYNTHETIC_TAG
from swaplab.core import files, photos, video
from swaplab.model import runs
from swaplab.swap import targets
from swaplab.swap.frames import FramePipeline, configure_threads
from swaplab.swap.options import SwapOptions, _check_start

STRETCH_WARNING = 1.5  # faces stretched more than this from the drawn size to the frame get a warning: they will look soft


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
    # frames that got a face pasted: {"frames": n, "share": n / frames, "ranges": [[first, last], ...]} (frame indices
    # of the output, inclusive); 05_evaluate reads the share (frames without one are the input, unchanged)
    pasted: dict = field(default_factory=lambda: {"frames": 0, "share": 0.0, "ranges": []})
    options: dict = field(default_factory=dict)

    def asdict(self) -> dict:
        return dataclasses.asdict(self)

    def note_pasted(self, index: int, faces: int) -> None:
        """Frame ``index`` of the output got ``faces`` faces pasted (0: none)."""
        if not faces:
            return
        ranges = self.pasted["ranges"]
        if ranges and ranges[-1][1] == index - 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
        self.pasted["frames"] += 1


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
    report.pasted["share"] = round(report.pasted["frames"] / max(report.frames, 1), 4)
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
    report.note_pasted(0, pipe.pasted)
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
        report.note_pasted(writer.frames_written - 1, pipe.pasted)
        preview(frame.image, out)
        tick(writer.frames_written)
